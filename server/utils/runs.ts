import type { MessageError, Usage } from '#shared/schemas'

export interface GenerationJob {
  chatId: string
  owner: string
  model: string
}

/**
 * Where runs live. This one keeps them in this process's memory; a Redis-backed registry
 * (several server instances) implements the same interface later.
 */
export interface RunRegistry {
  /** Registers the run of an assistant message before the message is stored, so no reader can miss it. */
  reserve: (messageId: string, owner: string) => Run
  /** Drops a reserved run that never started (its message could not be stored). */
  release: (messageId: string) => void
  /** Starts generating in the background; the returned promise settles once the final state is stored. */
  launch: (run: Run, job: GenerationJob) => Promise<RunFinal>
  attach: (messageId: string, offset: number) => RunReader | undefined
  /** Aborts the upstream request and waits until the final state is stored; false if nothing ran. */
  stop: (messageId: string) => Promise<boolean>
  readonly size: number
}

class MemoryRunRegistry implements RunRegistry {
  private readonly runs = new Map<string, Run>()
  private saver: ReturnType<typeof setInterval> | undefined
  private saving = false

  get size() {
    return this.runs.size
  }

  reserve(messageId: string, owner: string): Run {
    const run = new Run(messageId, owner)
    this.runs.set(messageId, run)
    return run
  }

  release(messageId: string) {
    this.runs.delete(messageId)
    this.updateSaver()
  }

  launch(run: Run, job: GenerationJob): Promise<RunFinal> {
    this.updateSaver()
    return generate(run, job).finally(() => {
      this.runs.delete(run.messageId)
      this.updateSaver()
    })
  }

  attach(messageId: string, offset: number): RunReader | undefined {
    return this.runs.get(messageId)?.reader(offset)
  }

  async stop(messageId: string): Promise<boolean> {
    const run = this.runs.get(messageId)
    if (!run) return false
    run.stop()
    await run.finished
    return true
  }

  /** One timer saves every running answer that changed, in one transaction, at most every FLUME_SAVE_INTERVAL_MS. */
  private updateSaver() {
    if (this.runs.size && !this.saver) {
      this.saver = setInterval(() => void this.save(), useFlumeConfig().saveIntervalMs)
      this.saver.unref?.()
    }
    else if (!this.runs.size && this.saver) {
      clearInterval(this.saver)
      this.saver = undefined
    }
  }

  private async save() {
    if (this.saving) return
    this.saving = true
    try {
      const dirty = [...this.runs.values()].filter(run => run.dirty && !run.final)
      for (const run of dirty) run.dirty = false
      await messageStore.saveProgress(dirty.map(run => ({ id: run.messageId, content: run.text() })))
    }
    catch (error) {
      console.error('[flume] saving running answers failed; retrying on the next tick', error)
      for (const run of this.runs.values()) run.dirty = true
    }
    finally {
      this.saving = false
    }
  }
}

const registry = new MemoryRunRegistry()

export function useRuns(): RunRegistry {
  return registry
}

/** Runs one generation to its end and stores the outcome. Never throws. */
async function generate(run: Run, job: GenerationJob): Promise<RunFinal> {
  const config = useFlumeConfig()
  let status: RunFinal['status'] = 'done'
  let error: MessageError | undefined
  let usage: Usage | undefined
  try {
    await messageStore.claim(run.messageId)
    const history = await messageStore.history(job.owner, job.chatId, run.messageId)
    const parts = streamCompletion({
      client: useOpenAI(),
      model: job.model,
      messages: history,
      signal: run.controller.signal,
      stallTimeoutMs: config.stallTimeoutMs,
    })
    for await (const part of parts) {
      if (part.type === 'delta') run.append(part.text)
      else usage = { promptTokens: part.promptTokens, completionTokens: part.completionTokens }
    }
    if (run.controller.signal.aborted) status = 'stopped'
  }
  catch (cause) {
    if (run.controller.signal.aborted) {
      status = 'stopped'
    }
    else {
      const failure = toUpstreamError(cause)
      status = 'error'
      error = { code: failure.code, message: failure.message }
      if (failure.code === 'upstream_error' || failure.code === 'upstream_unavailable') {
        console.warn(`[flume] generation of ${run.messageId} failed:`, (cause as Error)?.message ?? cause)
      }
    }
  }
  const final: RunFinal = { status, ...(error ? { error } : {}), ...(usage ? { usage } : {}) }
  await persistFinal(run, final)
  run.end(final)
  return final
}

async function persistFinal(run: Run, final: RunFinal) {
  for (let attempt = 1; ; attempt++) {
    try {
      await messageStore.finish(run.messageId, { content: run.text(), ...final })
      return
    }
    catch (error) {
      // The text is in memory and readers still get it; keep trying briefly rather than lose it.
      if (attempt >= 5) {
        console.error(`[flume] could not store the final answer of ${run.messageId}`, error)
        return
      }
      await new Promise(resolve => setTimeout(resolve, 200 * attempt))
    }
  }
}
