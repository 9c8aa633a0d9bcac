import { MessageParams, isFinalStatus, type Message } from '#shared/schemas'

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

  const live = runs.attach(messageId, offset ?? 0)
  if (live) return sendRun(event, live)

  if (!isFinalStatus(message.status)) {
    message = await adoptOrphan(message, owner, chatId)
    const adopted = runs.attach(messageId, offset ?? 0)
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

/**
 * A message still marked running that no run in this process owns. `pending`: nobody started it
 * yet (edge presets run it in the stream request), so claim and start it here. `streaming`: its
 * run died with a previous process, so it ends as `interrupted` with its saved text.
 */
async function adoptOrphan(message: Message, owner: string, chatId: string): Promise<Message> {
  const runs = useRuns()
  if (message.status === 'pending' && await messageStore.claim(message.id)) {
    const chat = await chatStore.get(owner, chatId)
    const model = message.model ?? chat?.model ?? await resolveDefaultModel()
    const job = chat ? jobFor(chat, owner, model) : { chatId, owner, model }
    // A pending answer that already has text was reopened by Continue: it goes on from there.
    const continuation = message.content ? { text: message.content, usage: message.usage } : undefined
    const run = runs.reserve(message.id, owner, continuation?.text)
    void runs.launch(run, continuation ? { ...job, continuation } : job)
    return message
  }
  if (message.status === 'streaming') {
    await messageStore.finish(message.id, {
      content: message.content,
      status: 'error',
      error: { code: 'interrupted', message: INTERRUPTED_MESSAGE },
    })
  }
  return (await messageStore.get(owner, chatId, message.id)) ?? message
}
