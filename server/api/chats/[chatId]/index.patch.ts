import { ChatParams, PatchChatBody } from '#shared/schemas'

export default defineEventHandler(async (event) => {
  const { chatId } = paramsAs(event, ChatParams)
  const { title } = await readBodyAs(event, PatchChatBody)
  const owner = await useIdentity(event)
  const chat = await chatStore.rename(owner, chatId, title)
  if (!chat) throw notFound()
  return chat
})
