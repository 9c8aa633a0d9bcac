import { EditMessageBody, MessageParams, streamUrlFor, type PostMessageResponse } from '#shared/schemas'

/**
 * Edit a question and ask again: the question and every message after it are replaced by the
 * edited question and a new answer (an answer still running is stopped first, its text dropped
 * with it). Body and answer as for posting a message; 409 `not_editable` for an assistant message.
 */
export default defineEventHandler(async (event): Promise<PostMessageResponse> => {
  const { chatId, messageId } = paramsAs(event, MessageParams)
  const body = await readBodyAs(event, EditMessageBody)
  const owner = await useIdentity(event)
  const [chat, edited] = await Promise.all([chatStore.get(owner, chatId), messageStore.get(owner, chatId, messageId)])
  if (!chat || !edited) throw notFound()
  if (edited.role !== 'user') throw httpError(409, 'not_editable', 'Only your own messages can be edited.')
  if (body.model) await assertKnownModel(body.model)
  // The files it has now: its own kept, new uploads added (absent: it keeps its own).
  const attachments = body.attachments && await attachmentsFor(owner, body.attachments, messageId)
  const model = await modelFor(chat, body.model)
  const remember = body.model !== undefined && body.model !== chat.model

  await stopRunningAnswers(owner, chatId)
  const answerId = newId()
  const exchange = await startAnswer(event, { id: answerId, job: jobFor(chat, owner, model) },
    () => messageStore.editExchange(owner, chat, messageId, body.content, model, answerId, remember, attachments))
  // Deleted meanwhile (another tab): it is gone.
  if (!exchange) throw notFound()
  return { ...exchange, streamUrl: streamUrlFor(chatId, answerId) }
})
