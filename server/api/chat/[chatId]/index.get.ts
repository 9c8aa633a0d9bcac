/**
 * A chat as the AI SDK's `UIMessage`s (`new Chat({ id, messages })` after a reload), oldest first,
 * with Flume's status in each one's `metadata`; `chatId` is its Flume id. An id that names no chat
 * yet is an empty one of this identity.
 */
export default defineEventHandler(async (event) => {
  const sdkId = sdkChatParam(event)
  const owner = await useIdentity(event)
  const chatId = await sdkChats.chatIdFor(owner, sdkId)
  const messages = await messageStore.list(owner, chatId)
  return { id: sdkId, chatId, messages: messages.map(toUiMessage) }
})
