import type { H3Event } from 'h3'
import { MessageParams, isFinalStatus } from '#shared/schemas'
import { parseStreamId, type StreamPosition } from '#shared/stream-id'

/**
 * The answer as Server-Sent Events (CONTRACT.md, "The stream"), or in another format its client
 * asks for (`formatFor`): from memory while its run is live, from the database once it ended.
 * Leaving does not stop generation.
 */
export default defineEventHandler(async (event) => {
  const { chatId, messageId } = paramsAs(event, MessageParams)
  const format = formatFor(event)
  const offset = requestedOffset(event)
  // Formats without reasoning read none: their offsets are the answer's alone.
  const from = { answer: offset?.answer ?? 0, reasoning: format.reasoning ? offset?.reasoning ?? 0 : 0 }
  const reasoningFrom = format.reasoning ? from.reasoning : undefined
  const owner = await useIdentity(event)
  const runs = useRuns()

  let message = await messageStore.get(owner, chatId, messageId)
  if (!message || message.role !== 'assistant') throw notFound()

  // Counted while the stream is open: released when its reader closes, or here for any other answer.
  const release = holdStreamSlot(event, owner)
  try {
    const live = await runs.attach(messageId, from.answer, reasoningFrom)
    if (live) return sendLive(event, live, release, format)

    if (!isFinalStatus(message.status)) {
      message = await adoptAnswer(event, owner, message)
      const adopted = await runs.attach(messageId, from.answer, reasoningFrom)
      if (adopted) return sendLive(event, adopted, release, format)
    }
  }
  catch (error) {
    release()
    throw error
  }
  release()

  const rest = restOf(message, from, format.reasoning !== undefined)
  if (!rest) throw httpError(400, 'invalid_offset', PAST_END)
  // Nothing left to send: a browser EventSource reconnecting after the end stops for good. The
  // other formats answer their end instead: htmx's SSE extension opens a new EventSource after a
  // 204 (and again, and again), and curl is better told how the answer ended.
  if (offset && !rest.reasoning && !rest.text && format === jsonSse) return sendNoContent(event, 204)
  return sendFrames(event, finishedBody(format, rest, finalOf(message)), format.headers)
})

/** A live answer's frames; an offset past its text so far is refused as for a finished answer. */
function sendLive(event: H3Event, reader: RunReader, release: () => void, format: StreamFormat) {
  if (reader.pastEnd) {
    reader.close()
    throw httpError(400, 'invalid_offset', PAST_END)
  }
  return sendRun(event, releasingOnClose(reader, release), format)
}

/**
 * The formats `?format=` names; each call makes one for one response. Add a format here (and to
 * bench/formats.mjs).
 */
const FORMATS: Record<string, () => StreamFormat> = {
  sse: () => jsonSse,
  text: textFormat,
  htmx: htmxFormat,
}

/**
 * `?format=` wins; otherwise `Accept: text/plain` without `text/event-stream` is plain text
 * (docs/text.md), and anything else the contract's JSON SSE.
 */
function formatFor(event: H3Event): StreamFormat {
  const raw = getQuery(event).format
  if (raw !== undefined) {
    const name = Array.isArray(raw) ? undefined : String(raw)
    const make = name !== undefined && Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined
    if (!make) throw httpError(400, 'invalid_query', `format must be one of: ${Object.keys(FORMATS).join(', ')}.`)
    return make()
  }
  const accept = getRequestHeader(event, 'accept')?.toLowerCase() ?? ''
  if (accept.includes('text/plain') && !accept.includes('text/event-stream')) return textFormat()
  return jsonSse
}

/**
 * `Last-Event-ID` (a browser reconnecting) wins over `?offset` (a fresh page resuming). Either is a
 * frame id: `<answer>` or `<answer>,<reasoning>` (docs/reasoning.md).
 */
function requestedOffset(event: H3Event): StreamPosition | undefined {
  const raw = getRequestHeader(event, 'last-event-id') ?? getQuery(event).offset
  if (raw === undefined || raw === '') return undefined
  const value = Array.isArray(raw) ? raw[0] : raw
  const position = typeof value === 'string' ? parseStreamId(value) : undefined
  if (!position) {
    throw httpError(400, 'invalid_offset', 'The offset must be a frame id: a non-negative integer, or two of them as "<answer>,<reasoning>".')
  }
  return position
}
