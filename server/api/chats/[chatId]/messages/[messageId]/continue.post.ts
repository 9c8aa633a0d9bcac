import { MessageParams, streamUrlFor, type RetryResponse } from '#shared/schemas'

/**
 * Continue an answer that ended in an error or a stop: the same message goes on from where it
 * ended (status `pending` again, its text kept; the model is shown the partial answer and asked to
 * carry on). Its stream serves the old text first, so `?offset=<length>` follows only the new text.
 * 202 `{ assistantMessage, streamUrl }`; 409 `not_continuable` if it is not the chat's last answer
 * or did not end in `error` or `stopped`.
 */
export default defineEventHandler(async (event): Promise<RetryResponse> => {
  const { chatId, messageId } = paramsAs(event, MessageParams)
  const owner = await useIdentity(event)
  const [chat, answer] = await Promise.all([chatStore.get(owner, chatId), messageStore.get(owner, chatId, messageId)])
  if (!chat || !answer || answer.role !== 'assistant') throw notFound()

  const model = await modelFor(chat, undefined, answer)
  const job = { ...jobFor(chat, owner, model), continuation: continuationOf(answer) }
  const assistantMessage = await startAnswer(event, { id: messageId, job }, () => messageStore.reopenAnswer(owner, chatId, messageId, answer.content))
  if (!assistantMessage) throw httpError(409, 'not_continuable', 'Only the last answer can be continued, once it has stopped or failed.')
  return { assistantMessage, streamUrl: streamUrlFor(chatId, messageId) }
})
