import type { MessageError, Usage } from '#shared/schemas'
import { toUpstreamError } from './llm'
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
  try {
    if (!await io.claim(run.messageId)) {
      log.warn(`[flume] answer ${run.messageId} is not pending any more; not generating it here`)
      run.abandon()
      return undefined
    }
    const messages = promptFor(job, await io.history(job, run.messageId))
    for await (const part of io.complete({ model: job.model, messages, temperature: job.temperature, signal })) {
      if (part.type === 'delta') run.append(part.text)
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
  if (run.interrupted) {
    status = 'error'
    error = { code: 'interrupted', message: INTERRUPTED_MESSAGE }
  }
  const final: RunFinal = { status, ...(error ? { error } : {}), ...(usage ? { usage } : {}) }
  await persistFinal(run, final, io)
  run.end(final)
  try {
    io.onFinished?.({ ...job, messageId: run.messageId, content: run.text(), final })
  }
  catch (error) {
    log.error('[flume] an answer-finished listener failed', error)
  }
  return final
}

async function persistFinal(run: Run, final: RunFinal, io: GenerationIO) {
  for (let attempt = 1; ; attempt++) {
    try {
      await io.finish(run.messageId, { content: run.text(), ...final })
      return
    }
    catch (error) {
      // Readers still get the text from memory; keep trying briefly rather than lose it.
      if (attempt >= 5) {
        (io.log ?? console).error(`[flume] could not store the final answer of ${run.messageId}`, error)
        return
      }
      await new Promise(resolve => setTimeout(resolve, 200 * attempt))
    }
  }
}
