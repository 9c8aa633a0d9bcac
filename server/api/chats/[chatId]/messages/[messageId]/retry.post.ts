import { MessageParams, streamUrlFor, type RetryResponse } from '#shared/schemas'

/**
 * Asks again for the chat's last answer once it is finished (failed, stopped, or done: regenerate):
 * a new answer takes its place (new id, so streams of the old one stay consistent) and the question
 * is not repeated. It uses the chat's model when one was picked, else the old answer's.
 * 202 `{ assistantMessage, streamUrl }`; 409 `not_retryable` if it is not the last answer or still running.
 */
export default defineEventHandler(async (event): Promise<RetryResponse> => {
  const { chatId, messageId } = paramsAs(event, MessageParams)
  const owner = await useIdentity(event)
  const previous = await messageStore.get(owner, chatId, messageId)
  if (!previous || previous.role !== 'assistant') throw notFound()
  const chat = await chatStore.get(owner, chatId)
  if (!chat) throw notFound()

  const answerId = newId()
  const model = await modelFor(chat, undefined, previous)
  const assistantMessage = await startAnswer(event, { id: answerId, job: jobFor(chat, owner, model) },
    () => messageStore.replaceAnswer(owner, chatId, messageId, model, answerId))
  if (!assistantMessage) throw httpError(409, 'not_retryable', 'Only the last answer can be retried, once it has finished.')
  return { assistantMessage, streamUrl: streamUrlFor(chatId, answerId) }
})
