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

  const live = await runs.attach(messageId, offset ?? 0)
  if (live) return sendRun(event, live)

  if (!isFinalStatus(message.status)) {
    message = await adoptAnswer(event, owner, message)
    const adopted = await runs.attach(messageId, offset ?? 0)
    if (adopted) return sendRun(event, adopted)
  }

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
  const rest = message.content.slice(offset ?? 0)
  return sendFrames(event, (rest ? frame(length, { type: 'delta', text: rest }) : '') + finalFrames(length, final))
})

/** `Last-Event-ID` (a browser reconnecting) wins over `?offset` (a fresh page resuming). */
function requestedOffset(event: Parameters<typeof getQuery>[0]): number | undefined {
  const raw = getRequestHeader(event, 'last-event-id') ?? getQuery(event).offset
  if (raw === undefined || raw === '') return undefined
  const value = Array.isArray(raw) ? raw[0] : raw
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value.trim())) {
    throw httpError(400, 'invalid_offset', 'The offset must be a non-negative integer.')
  }
  return Number(value)
}
