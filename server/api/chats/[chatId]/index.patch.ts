import { ChatParams, PatchChatBody } from '#shared/schemas'

/** Renames a chat and/or picks its model (`model: null` goes back to the server's default). */
export default defineEventHandler(async (event) => {
  const { chatId } = paramsAs(event, ChatParams)
  const { title, model } = await readBodyAs(event, PatchChatBody)
  const owner = await useIdentity(event)
  if (!await chatStore.get(owner, chatId)) throw notFound()
  if (model) await assertKnownModel(model)
  const chat = await chatStore.update(owner, chatId, { title, model })
  if (!chat) throw notFound()
  return chat
})
