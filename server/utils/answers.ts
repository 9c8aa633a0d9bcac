import type { H3Event } from 'h3'
import type { Chat } from '#shared/schemas'
import type { GenerationJob } from './runs'

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
 * Starts writing an answer the way every route that asks the model does (send, edit, retry,
 * continue): its run is registered before `store` writes the message, so no reader can find the
 * message without its run; if storing fails or stores nothing (`undefined`: the request no longer
 * applies, or the answer is already running), the run is dropped and nothing is generated.
 * Answers 202.
 */
export async function startAnswer<T>(
  event: H3Event,
  answer: { id: string, job: GenerationJob },
  store: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const runs = useRuns()
  // Continue reuses the answer's id: never while that answer still runs.
  if (runs.has(answer.id)) return undefined
  const run = runs.reserve(answer.id, answer.job.owner, answer.job.continuation?.text)
  let stored: T | undefined
  try {
    stored = await store()
  }
  catch (error) {
    runs.release(answer.id)
    throw error
  }
  if (stored === undefined) {
    runs.release(answer.id)
    return undefined
  }
  event.waitUntil?.(runs.launch(run, answer.job))
  setResponseStatus(event, 202, 'Accepted')
  return stored
}

/** Stops the chat's running answers (their upstream requests are aborted) and waits until each is stored. */
export async function stopRunningAnswers(owner: string, chatId: string): Promise<void> {
  const runs = useRuns()
  await Promise.all((await messageStore.running(owner, chatId)).map(id => runs.stop(id)))
}
