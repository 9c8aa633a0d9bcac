import type { H3Event } from 'h3'
import { MessageParams, isFinalStatus } from '#shared/schemas'

/**
 * The answer as Server-Sent Events (CONTRACT.md, "The stream"): from memory while its run is
 * live, from the database once it ended. Leaving does not stop generation.
 */
export default defineEventHandler(async (event) => {
  const { chatId, messageId } = paramsAs(event, MessageParams)
  const offset = requestedOffset(event)
  const owner = await useIdentity(event)
  const runs = useRuns()

  let message = await messageStore.get(owner, chatId, messageId)
  if (!message || message.role !== 'assistant') throw notFound()

  // Counted while the stream is open: released when its reader closes, or here for any other answer.
  const release = holdStreamSlot(event, owner)
  try {
    const live = await runs.attach(messageId, offset ?? 0)
    if (live) return sendLive(event, live, release)

    if (!isFinalStatus(message.status)) {
      message = await adoptAnswer(event, owner, message)
      const adopted = await runs.attach(messageId, offset ?? 0)
      if (adopted) return sendLive(event, adopted, release)
    }
  }
  catch (error) {
    release()
    throw error
  }
  release()

  const length = message.content.length
  if (offset !== undefined && offset > length) {
    throw httpError(400, 'invalid_offset', 'The offset is past the end of this answer.')
  }
  // Nothing left to send: a browser EventSource reconnecting after the end stops for good.
  if (offset === length) return sendNoContent(event, 204)
  const final = {
    status: message.status as RunFinal['status'],
    ...(message.error ? { error: message.error } : {}),
    ...(message.usage ? { usage: message.usage } : {}),
  }
  return sendFrames(event, finishedBody(jsonSse, message.content, offset ?? 0, final))
})

/** A live answer's frames; an offset past its text so far is refused as for a finished answer. */
function sendLive(event: H3Event, reader: RunReader, release: () => void) {
  if (reader.pastEnd) {
    reader.close()
    throw httpError(400, 'invalid_offset', 'The offset is past the end of this answer.')
  }
  return sendRun(event, releasingOnClose(reader, release))
}

/** `Last-Event-ID` (a browser reconnecting) wins over `?offset` (a fresh page resuming). */
function requestedOffset(event: H3Event): number | undefined {
  const raw = getRequestHeader(event, 'last-event-id') ?? getQuery(event).offset
  if (raw === undefined || raw === '') return undefined
  const value = Array.isArray(raw) ? raw[0] : raw
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value.trim())) {
    throw httpError(400, 'invalid_offset', 'The offset must be a non-negative integer.')
  }
  return Number(value)
}
