import type { MessageError, Usage } from '#shared/schemas'
import { toUpstreamError } from './llm'
import type { ChatTurn } from './llm'
import { addUsage, promptFor } from './prompt'
import { INTERRUPTED_MESSAGE, type GenerationIO, type GenerationJob } from './registry'
import type { Run, RunFinal } from './run'

/**
 * Writes one answer from the model into `run`, stores its final state and tells `io.onFinished`.
 * Never throws. Undefined when the answer was not ours to write (its claim failed: another
 * instance took it, or it is no longer pending): nothing is generated or stored, and the run's
 * readers are let go so that they find the answer where it really is.
 */
export async function generate(run: Run, job: GenerationJob, io: GenerationIO): Promise<RunFinal | undefined> {
  const log = io.log ?? console
  const signal = run.controller.signal
  let status: RunFinal['status'] = 'done'
  let error: MessageError | undefined
  let usage: Usage | undefined = job.continuation?.usage
  let messages: ChatTurn[] | undefined
  try {
    if (!await io.claim(run.messageId)) {
      log.warn(`[flume] answer ${run.messageId} is not pending any more; not generating it here`)
      run.abandon()
      return undefined
    }
    messages = promptFor(job, await io.history(job, run.messageId))
  }
  catch (cause) {
    // Not the model's fault: say so, rather than blame the model server.
    status = 'error'
    error = { code: 'storage_unavailable', message: STORAGE_UNAVAILABLE_MESSAGE }
    log.error(`[flume] answer ${run.messageId} could not start: the database failed`, cause)
  }
  if (messages) {
    try {
      for await (const part of io.complete({ model: job.model, messages, temperature: job.temperature, signal })) {
        if (part.type === 'delta') run.append(part.text)
        else if (part.type === 'reasoning') run.appendReasoning(part.text)
        else usage = addUsage(job.continuation?.usage, part)
      }
      if (signal.aborted) status = 'stopped'
    }
    catch (cause) {
      if (signal.aborted) {
        status = 'stopped'
      }
      else {
        const failure = toUpstreamError(cause)
        status = 'error'
        error = { code: failure.code, message: failure.message }
        log.warn(`[flume] answer ${run.messageId} failed (${failure.code}):`, (cause as Error)?.message ?? cause)
      }
    }
  }
  if (run.interrupted) {
    status = 'error'
    error = { code: 'interrupted', message: INTERRUPTED_MESSAGE }
  }
  else if (run.failure) {
    status = 'error'
    error = run.failure
  }
  const final: RunFinal = { status, ...(error ? { error } : {}), ...(usage ? { usage } : {}) }
  const failed = await storeFinal(run, final, io)
  // Readers get their final frames now, from memory, even while the database refuses the final
  // state: the run stays registered (readers who come later read it here) until it is stored.
  run.end(final)
  if (failed) await persistFinal(run, final, io, failed.error)
  try {
    io.onFinished?.({ ...job, messageId: run.messageId, content: run.text(), final })
  }
  catch (error) {
    log.error('[flume] an answer-finished listener failed', error)
  }
  return final
}

export const STORAGE_UNAVAILABLE_MESSAGE = 'The answer could not start: the server\'s database did not answer. Retry in a moment.'

/** Why an answer is cut short when its text cannot be saved for FLUME_STORAGE_GRACE_MS. */
export const STORAGE_LOST: MessageError = {
  code: 'storage_unavailable',
  message: 'The answer was cut short: the server\'s database stopped taking writes. The text so far is kept; Continue or Retry once the server is back.',
}

/** Backoff of the final state's retries: from the first, doubling up to the last. */
export const FINAL_RETRY_MS = { first: 100, max: 5000 }
/** While the database refuses writes, the same complaint goes to the log at most this often. */
export const DB_COMPLAINT_EVERY_MS = 30_000

/** Undefined once stored. */
async function storeFinal(run: Run, final: RunFinal, io: GenerationIO): Promise<{ error: unknown } | undefined> {
  try {
    await io.finish(run.messageId, { ...run.snapshot(), ...final })
    return undefined
  }
  catch (error) {
    return { error }
  }
}

/**
 * Stores the final state of an answer the database refused, retrying with capped exponential
 * backoff for as long as the process lives: the text since the last save exists only here. Gives
 * up only when the server shuts down (the run is interrupted).
 */
async function persistFinal(run: Run, final: RunFinal, io: GenerationIO, firstError: unknown): Promise<boolean> {
  const log = io.log ?? console
  const complain = complaints(log)
  let error = firstError
  let delay = FINAL_RETRY_MS.first
  for (let failures = 1; ; failures++) {
    complain(`[flume] could not store the final answer of ${run.messageId} (${run.length} characters; ${failures} attempt(s) so far): its readers get it from memory, and storing it is retried until the database takes it`, error)
    await pause(delay, run.interruption.signal)
    // Shutting down: it was retried all through the grace period; another try (a locked SQLite
    // file holds it 5 s) would keep the process past it.
    if (run.interrupted) {
      log.error(`[flume] gave up storing the final answer of ${run.messageId}: the server is shutting down; its text since the last save is lost`)
      return false
    }
    delay = Math.min(delay * 2, FINAL_RETRY_MS.max)
    const failed = await storeFinal(run, final, io)
    if (!failed) {
      log.warn(`[flume] stored the final answer of ${run.messageId} after ${failures} failed attempt(s)`)
      return true
    }
    error = failed.error
  }
}

/** A logger for a failure that repeats: the first time at once, then at most every DB_COMPLAINT_EVERY_MS. */
export function complaints(log: Pick<Console, 'error'>): (message: string, error?: unknown) => void {
  let last = Number.NEGATIVE_INFINITY
  return (message, error) => {
    if (Date.now() - last < DB_COMPLAINT_EVERY_MS) return
    last = Date.now()
    if (error === undefined) log.error(message)
    else log.error(message, error)
  }
}

/** Waits `ms`, or less once `signal` aborts (the server shutting down). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
