import { CreateChatBody, streamUrlFor, type CreateChatResponse } from '#shared/schemas'

/**
 * Creates a chat. With `content` (and optionally `model`, remembered by the chat) it starts with
 * that question: the chat, the question and its `pending` answer are stored in one transaction and
 * the answer starts, as for posting a message; the 201 then also carries `messages` (question and
 * answer) and the answer's `streamUrl`. A new chat's first word needs one request, not two.
 */
export default defineEventHandler(async (event): Promise<CreateChatResponse> => {
  const body = await readBodyAs(event, CreateChatBody)
  const owner = await useIdentity(event)
  if (body.content === undefined) {
    const chat = await chatStore.create(owner, body.title)
    setResponseStatus(event, 201, 'Created')
    return chat
  }
  const { content } = body
  if (body.model) await assertKnownModel(body.model)
  const attachments = await attachmentsFor(owner, body.attachments)
  const model = await modelFor(undefined, body.model)
  const chatId = newId()
  const answerId = newId()
  const started = await startAnswer(event, { id: answerId, job: jobFor({ id: chatId }, owner, model) },
    () => chatStore.createWithExchange(owner, { id: chatId, title: body.title }, content, model, answerId, body.model !== undefined, attachments))
  setResponseStatus(event, 201, 'Created')
  return { ...started!.chat, messages: [started!.userMessage, started!.assistantMessage], streamUrl: streamUrlFor(chatId, answerId) }
})
