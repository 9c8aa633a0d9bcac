/**
 * Where the AI SDK resumes (`resumeStream()`, `useChat({ resume: true })`): the chat's running
 * answer from its start, which the SDK takes as a replay; 204 when none runs (or the chat does not
 * exist yet), so the SDK does not resume.
 */
export default defineEventHandler(async (event) => {
  const sdkId = sdkChatParam(event)
  const owner = await useIdentity(event)
  const chatId = await sdkChats.chatIdFor(owner, sdkId)
  const answer = await sdkChats.runningAnswer(owner, chatId)
  if (!answer) return sendNoContent(event, 204)
  const release = holdStreamSlot(event, owner)
  return sendUiMessageAnswer(event, owner, answer, release, { 'x-flume-chat-id': chatId })
})
