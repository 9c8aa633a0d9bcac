import type { H3Event } from 'h3'
import { isFinalStatus, type Chat, type Message } from '#shared/schemas'
import { INTERRUPTED, type GenerationJob } from './registry'
import { storedText, type Run, type RunFinal } from './run'

/** What Continue starts from: the answer's text, reasoning and usage so far. */
export function continuationOf(answer: Message): NonNullable<GenerationJob['continuation']> {
  const { content, ...rest } = storedText(answer)
  return { text: content, ...rest, ...(answer.usage ? { usage: answer.usage } : {}) }
}

/** The generation settings of `chat`: its own, else the server's defaults. */
export function jobFor(chat: Pick<Chat, 'id' | 'systemPrompt' | 'temperature'>, owner: string, model: string): GenerationJob {
  const systemPrompt = chat.systemPrompt ?? useFlumeConfig().systemPrompt
  return {
    chatId: chat.id,
    owner,
    model,
    ...(systemPrompt ? { systemPrompt } : {}),
    ...(chat.temperature === undefined ? {} : { temperature: chat.temperature }),
  }
}

/**
 * Starts writing an answer, the one way every route that asks the model does it (send, edit,
 * retry, continue, the stream route adopting a pending answer): its run is registered before
 * `store` writes (or confirms) the message, so no reader can find the message without its run; if
 * storing fails or stores nothing (`undefined`: the request no longer applies, or the answer is
 * already running), the run is dropped and nothing is generated. Generation outlives the request
 * (`waitUntil` on presets that end work with the response). Answers 202.
 */
export async function startAnswer<T>(
  event: H3Event,
  answer: { id: string, job: GenerationJob },
  store: () => Promise<T | undefined>,
  options: { fromStream?: boolean } = {},
): Promise<T | undefined> {
  assertAcceptingAnswers(event)
  // The abuse limits (server/http/limits.ts) refuse before anything is stored; an answer the stream
  // request adopts was admitted when it was posted.
  const admitted = options.fromStream ? undefined : await admitAnswer(event, answer.job.owner)
  try {
    return await begin(event, answer, store, options)
  }
  finally {
    admitted?.()
  }
}

async function begin<T>(
  event: H3Event,
  answer: { id: string, job: GenerationJob },
  store: () => Promise<T | undefined>,
  options: { fromStream?: boolean },
): Promise<T | undefined> {
  const runs = useRuns()
  // The edge: only stored here; the stream request that finds it pending generates it, so the
  // generation lives as long as that response (waitUntil alone ends ~30 s after a response).
  if (runs.startsInStream && !options.fromStream) {
    const stored = await store()
    if (stored !== undefined) setResponseStatus(event, 202, 'Accepted')
    return stored
  }
  // Continue reuses the answer's id: never while that answer still runs.
  if (await runs.isRunning(answer.id)) return undefined
  const run = runs.reserve(answer.id, answer.job.owner, answer.job.continuation)
  let stored: T | undefined
  try {
    // Another instance took it meanwhile: it writes the answer, readers follow it there.
    if (runs.held && !await runs.held(answer.id)) {
      await drop(run)
      return undefined
    }
    stored = await store()
  }
  catch (error) {
    await drop(run)
    throw error
  }
  if (stored === undefined) {
    await drop(run)
    return undefined
  }
  event.waitUntil?.(runs.launch(run, answer.job))
  setResponseStatus(event, 202, 'Accepted')
  return stored
}

/**
 * Lets go of a reserved run that is not written after all. Readers may have attached meanwhile (a
 * Continue reserves the answer's id, seeded with its text): they end with the answer's final frames
 * as it is stored, or, if it is not final with that text (another start got it), are let go to
 * read it again where it is.
 */
async function drop(run: Run) {
  useRuns().release(run.messageId)
  const saved = await messageStore.state(run.messageId).catch(() => undefined)
  if (saved && isFinalStatus(saved.status) && saved.content === run.text()) {
    run.end({
      status: saved.status as RunFinal['status'],
      ...(saved.error ? { error: saved.error } : {}),
      ...(saved.usage ? { usage: saved.usage } : {}),
    })
  }
  else {
    run.abandon()
  }
}

/**
 * A stream request found the answer still marked running with no run to read. `pending`: nobody
 * started it yet (edge presets start answers in the stream request), so it starts here, with the
 * same rules as every other start. `streaming`: if no instance is writing it any more (the
 * registry says so: a lease ran out, or this is the only process), it ends as `interrupted` with
 * its saved text; an answer written by another instance is left to it. Answers the message as it
 * now is.
 */
export async function adoptAnswer(event: H3Event, owner: string, message: Message): Promise<Message> {
  const runs = useRuns()
  if (message.status === 'pending') {
    const chat = await chatStore.get(owner, message.chatId)
    if (chat) {
      const model = await modelFor(chat, undefined, message)
      // A pending answer that already has text was reopened by Continue: it goes on from there.
      const continuation = message.content ? continuationOf(message) : undefined
      const job = { ...jobFor(chat, owner, model), ...(continuation ? { continuation } : {}) }
      await startAnswer(event, { id: message.id, job }, async () => message, { fromStream: true })
      setResponseStatus(event, 200, 'OK')
    }
  }
  else if (message.status === 'streaming') {
    await runs.settle(message.id, INTERRUPTED)
  }
  return (await messageStore.get(owner, message.chatId, message.id)) ?? message
}

/**
 * Stops an answer wherever it is written: its upstream request is aborted and the text so far
 * stored as `stopped`. One that nobody writes (its writer went away, or it never started) is
 * ended here, unless an instance starts writing it meanwhile: then that one is stopped.
 */
export async function stopAnswer(messageId: string): Promise<void> {
  const runs = useRuns()
  if (await runs.stop(messageId)) return
  if (await runs.settle(messageId, { status: 'stopped' })) return
  await runs.stop(messageId)
}

/** Stops the chat's running answers (their upstream requests are aborted) and waits until each is stored. */
export async function stopRunningAnswers(owner: string, chatId: string): Promise<void> {
  const runs = useRuns()
  await Promise.all((await messageStore.running(owner, chatId)).map(id => runs.stop(id)))
}
