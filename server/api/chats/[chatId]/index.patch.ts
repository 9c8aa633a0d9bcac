import { ChatParams, PatchChatBody } from '#shared/schemas'

/**
 * Renames a chat and/or changes its settings: `model` (null: the server's default),
 * `systemPrompt` (null or blank: none), `temperature` 0–2 (null: the model's default).
 */
export default defineEventHandler(async (event) => {
  const { chatId } = paramsAs(event, ChatParams)
  const changes = await readBodyAs(event, PatchChatBody)
  const owner = await useIdentity(event)
  if (!await chatStore.get(owner, chatId)) throw notFound()
  if (changes.model) await assertKnownModel(changes.model)
  const chat = await chatStore.update(owner, chatId, changes)
  if (!chat) throw notFound()
  return chat
})
