import type { H3Error, H3Event } from 'h3'
import { ChatParams, CreateChatBody, MAX_CONTENT_LENGTH, type Message } from '#shared/schemas'

/**
 * The /htmx page's composer (docs/htmx.md): a form post (`content`, and `chat` for the next
 * question of a chat) starts an answer the way the API does, and answers HTML: the question, the
 * answer following its stream, and a fresh composer (out of band). A new chat's URL is pushed,
 * so a reload shows it. Errors answer their status with a fragment saying what went wrong.
 */
export default defineEventHandler(async (event) => {
  setResponseHeaders(event, HTMX_PAGE_HEADERS)
  try {
    const form = await readForm(event)
    const content = form.get('content') ?? ''
    if (content.length > MAX_CONTENT_LENGTH) throw httpError(413, 'too_large', `The message is longer than ${MAX_CONTENT_LENGTH} characters.`)
    if (content.includes('\u0000') || !CreateChatBody.safeParse({ content }).success) throw httpError(400, 'invalid_body', 'Write a message first.')
    const chatField = form.get('chat')
    const owner = await useIdentity(event)

    let exchange: { userMessage: Message, assistantMessage: Message } | undefined
    let chatId: string
    if (chatField) {
      const parsed = ChatParams.safeParse({ chatId: chatField })
      const chat = parsed.success ? await chatStore.get(owner, parsed.data.chatId) : undefined
      if (!chat) throw notFound()
      chatId = chat.id
      const model = await modelFor(chat)
      const answerId = newId()
      exchange = await startAnswer(event, { id: answerId, job: jobFor(chat, owner, model) },
        () => messageStore.createExchange(owner, chat, content, model, answerId, false))
    }
    else {
      // As POST /api/chats with `content`: the chat, its question and the answer in one transaction.
      chatId = newId()
      const model = await modelFor(undefined)
      const answerId = newId()
      exchange = await startAnswer(event, { id: answerId, job: jobFor({ id: chatId }, owner, model) },
        () => chatStore.createWithExchange(owner, { id: chatId, title: undefined }, content, model, answerId, false))
      setResponseHeader(event, 'hx-push-url', `/htmx?chat=${encodeURIComponent(chatId)}`)
    }
    setResponseStatus(event, 200, 'OK')
    return `${htmxMessage(exchange!.userMessage)}${htmxMessage(exchange!.assistantMessage)}${htmxComposer(chatId, true)}`
  }
  catch (error) {
    const { statusCode = 500, statusMessage, message, data } = error as H3Error<{ code?: string }>
    const ours = Boolean(data?.code)
    if (!ours) console.error('[flume] POST /htmx/messages failed', error)
    setResponseStatus(event, ours ? statusCode : 500, ours ? statusMessage : 'Internal Server Error')
    return `${htmxError(ours ? message : 'Something went wrong on the server. Try again.')}`
  }
})

/**
 * The form, as htmx posts it (application/x-www-form-urlencoded), at most 1 MB. A body without
 * a Content-Length is refused rather than read to its end; browsers always send one for a form.
 */
async function readForm(event: H3Event): Promise<URLSearchParams> {
  const length = Number(getRequestHeader(event, 'content-length'))
  if (!Number.isFinite(length)) throw httpError(400, 'invalid_body', 'Send the form with a Content-Length.')
  if (length > MAX_BODY_BYTES) throw httpError(413, 'too_large', 'The request body is larger than 1 MB.')
  if (!/^application\/x-www-form-urlencoded\s*(?:;|$)/i.test(getRequestHeader(event, 'content-type') ?? '')) {
    throw httpError(415, 'unsupported_media_type', 'Send the question as a form (application/x-www-form-urlencoded).')
  }
  return new URLSearchParams(await readRawBody(event, 'utf8') ?? '')
}
