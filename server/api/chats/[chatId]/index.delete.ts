import { ChatParams } from '#shared/schemas'

export default defineEventHandler(async (event) => {
  const { chatId } = paramsAs(event, ChatParams)
  const owner = await useIdentity(event)
  if (!await chatStore.get(owner, chatId)) throw notFound()
  // Running answers are stopped first: their upstream requests are aborted, not left to run.
  await stopRunningAnswers(owner, chatId)
  await chatStore.remove(owner, chatId)
  return sendNoContent(event, 204)
})
