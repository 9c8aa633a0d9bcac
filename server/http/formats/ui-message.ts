import type { H3Event } from 'h3'
import { z } from 'zod'
import { MAX_CONTENT_LENGTH, isFinalStatus, type Message, type MessageError, type Usage } from '#shared/schemas'
import { finalOf, finishedBody, restOf, sendFrames, sendRun, type StreamFormat } from '../sse'
import type { RunFinal } from '../../generation/run'

/** The AI SDK's headers for a UI message stream (`ai`, UI_MESSAGE_STREAM_HEADERS), with Flume's cache-control. */
export const UI_MESSAGE_STREAM_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'connection': 'keep-alive',
  'x-vercel-ai-ui-message-stream': 'v1',
  'x-accel-buffering': 'no',
} as const

/** An answer is one text part; its id only has to be unique within the message. */
const TEXT_ID = 'text'
/** Reasoning parts are numbered after it: `reasoning-1`, ... */
const REASONING_ID = 'reasoning'

/** What a UI message carries of its Flume message (`message.metadata`). */
export interface FlumeMessageMetadata {
  status: Message['status']
  usage?: Usage
  error?: MessageError
}

const part = (chunk: Record<string, unknown>) => `data: ${JSON.stringify(chunk)}\n\n`

/**
 * One answer as the AI SDK's UI message stream (docs/ai-sdk.md): `start` with the answer's id as
 * the message id, its text as one text part, then how it ended: `finish` (done), `abort`
 * (stopped) or `error` with Flume's message, and `[DONE]`. Always the whole answer from its
 * start: the SDK takes a resumed stream as a replay (DefaultChatTransport `resumeStreamIsReplay`)
 * and rebuilds the message that has this id, so the result is the stored text, never text twice.
 * One format per response: it remembers whether the text part is open.
 */
export function uiMessageStream(messageId: string, headers: Record<string, string> = {}): StreamFormat {
  let textOpen = false
  // The reasoning is a part of its own (`reasoning-*`), closed when the text begins; more
  // reasoning after text (rare) opens another.
  let reasoningParts = 0
  let reasoningOpen = false
  const closeReasoning = () => {
    if (!reasoningOpen) return ''
    reasoningOpen = false
    return part({ type: 'reasoning-end', id: `${REASONING_ID}-${reasoningParts}` })
  }
  return {
    headers: { ...UI_MESSAGE_STREAM_HEADERS, ...headers },
    open: part({ type: 'start', messageId }),
    reasoning(_at, text) {
      let start = ''
      if (!reasoningOpen) {
        reasoningOpen = true
        reasoningParts++
        start = part({ type: 'reasoning-start', id: `${REASONING_ID}-${reasoningParts}` })
      }
      return start + part({ type: 'reasoning-delta', id: `${REASONING_ID}-${reasoningParts}`, delta: text })
    },
    delta(_at, text) {
      const start = closeReasoning() + (textOpen ? '' : part({ type: 'text-start', id: TEXT_ID }))
      textOpen = true
      return start + part({ type: 'text-delta', id: TEXT_ID, delta: text })
    },
    end(_at, final) {
      let out = closeReasoning() + (textOpen ? part({ type: 'text-end', id: TEXT_ID }) : '')
      textOpen = false
      const messageMetadata = metadataOf(final)
      if (final.status === 'done') {
        out += part({ type: 'finish', finishReason: 'stop', messageMetadata })
      }
      else if (final.status === 'stopped') {
        out += part({ type: 'message-metadata', messageMetadata }) + part({ type: 'abort', reason: 'stopped' })
      }
      else {
        // The SDK throws at `error`: what it should keep goes before it.
        out += part({ type: 'message-metadata', messageMetadata })
          + part({ type: 'error', errorText: final.error?.message ?? 'The answer failed.' })
          + part({ type: 'finish', finishReason: 'error' })
      }
      return `${out}data: [DONE]\n\n`
    },
    ping: ': ping\n\n',
  }
}

function metadataOf(final: RunFinal): FlumeMessageMetadata {
  return {
    status: final.status,
    ...(final.usage ? { usage: final.usage } : {}),
    ...(final.error ? { error: final.error } : {}),
  }
}

/** A stored message as the SDK's `UIMessage`: one text part, Flume's status in `metadata`. */
export function toUiMessage(message: Message) {
  return {
    id: message.id,
    role: message.role,
    metadata: {
      status: message.status,
      ...(message.usage ? { usage: message.usage } : {}),
      ...(message.error ? { error: message.error } : {}),
    } satisfies FlumeMessageMetadata,
    parts: [
      // As the SDK's sendMessage({ text, files }) orders them: the files, then the words.
      ...(message.attachments ?? []).map(file => ({ type: 'file' as const, mediaType: file.mediaType, filename: file.name, url: file.url })),
      ...(message.reasoning ? [{ type: 'reasoning' as const, text: message.reasoning, state: message.content || isFinalStatus(message.status) ? 'done' as const : 'streaming' as const }] : []),
      ...(message.content ? [{ type: 'text' as const, text: message.content, state: isFinalStatus(message.status) ? 'done' as const : 'streaming' as const }] : []),
    ],
  }
}

/**
 * Sends `answer` from its start as a UI message stream: live while it runs (from memory, or
 * adopted here when nobody writes it, as the contract's stream route does), else what is stored.
 * `release` (the stream slot, server/generation/open-streams.ts) is let go when the stream ends.
 */
export async function sendUiMessageAnswer(event: H3Event, owner: string, answer: Message, release: () => void, headers: Record<string, string> = {}) {
  const runs = useRuns()
  const format = uiMessageStream(answer.id, headers)
  let message = answer
  try {
    let live = await runs.attach(message.id, 0, 0)
    if (!live && !isFinalStatus(message.status)) {
      message = await adoptAnswer(event, owner, message)
      live = await runs.attach(message.id, 0, 0)
    }
    if (live) return sendRun(event, releasingOnClose(live, release), format)
  }
  catch (error) {
    release()
    throw error
  }
  release()
  return sendFrames(event, format.open + finishedBody(format, restOf(message, { answer: 0, reasoning: 0 })!, finalOf(message)), format.headers)
}

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001F\u007F]/

/** The chat id the SDK's client chose (any string of its own; docs/ai-sdk.md, Chats). */
export const SdkChatId = z.string().min(1).max(200)
  .refine(id => !CONTROL.test(id) && id.isWellFormed(), 'id must be one line of valid Unicode')

const UiMessagePart = z.looseObject({ type: z.string(), text: z.string().optional(), url: z.string().optional(), filename: z.string().optional() })
const UiMessage = z.looseObject({
  id: z.string().optional(),
  role: z.enum(['system', 'user', 'assistant']),
  parts: z.array(UiMessagePart).max(1000),
})

/**
 * The body DefaultChatTransport posts: `id`, `messages`, `trigger`, `messageId`, plus whatever the
 * page adds (`body` of the transport or of sendMessage; kept, unused). `message`, the newest one
 * alone, is what the SDK's docs send to keep bodies small (prepareSendMessagesRequest); `model`
 * picks a model as for posting a message.
 */
export const SdkChatBody = z.looseObject({
  id: SdkChatId,
  messages: z.array(UiMessage).max(10_000).optional(),
  message: UiMessage.optional(),
  trigger: z.enum(['submit-message', 'regenerate-message']).default('submit-message'),
  messageId: z.string().max(200).optional(),
  model: z.string().trim().min(1).max(200).optional(),
}).refine(body => body.messages !== undefined || body.message !== undefined, 'give messages (or message)')

export type SdkChatBody = z.infer<typeof SdkChatBody>

/** A `file` part of the SDK's question: its `url` (an upload's, or a `data:` URL) and `filename`. */
export interface SdkFile {
  url: string
  filename?: string
}

/**
 * The question the SDK asks: the text parts of its newest message, which must be the person's,
 * joined by a blank line, and its `file` parts (docs/ai-sdk.md, Files). Files alone make a question.
 */
export function sdkQuestion(body: SdkChatBody): { content: string, files: SdkFile[] } {
  const last = body.message ?? body.messages?.at(-1)
  if (!last || last.role !== 'user') throw httpError(400, 'invalid_body', 'The last message must be the new question (role user).')
  const files = last.parts.filter(p => p.type === 'file').map((p): SdkFile => {
    if (!p.url) throw httpError(400, 'invalid_body', 'A file part needs its url.')
    return { url: p.url, ...(p.filename ? { filename: p.filename } : {}) }
  })
  const content = last.parts.flatMap(p => (p.type === 'text' && p.text !== undefined ? [p.text] : [])).join('\n\n')
  if (!content.trim() && !files.length) throw httpError(400, 'invalid_body', 'The question has no text.')
  if (content.length > MAX_CONTENT_LENGTH) throw httpError(413, 'too_large', `The question is longer than ${MAX_CONTENT_LENGTH} characters.`)
  if (content.includes('\u0000')) throw httpError(400, 'invalid_body', 'The question must not contain NUL characters.')
  if (!content.isWellFormed()) throw httpError(400, 'invalid_body', 'The question must be valid Unicode (no lone surrogates).')
  return { content, files }
}

/** The SDK chat id of a route (`/api/chat/:chatId/...`); a malformed one names nothing (404). */
export function sdkChatParam(event: H3Event): string {
  const parsed = SdkChatId.safeParse(getRouterParam(event, 'chatId', { decode: true }))
  if (!parsed.success) throw notFound()
  return parsed.data
}
