import { STORAGE_LOST, complaints, generate } from './generate'
import type { GenerationIO, GenerationJob, RunRegistry } from './registry'
import { Run, storedText, type RunFinal, type RunReader, type RunSeed } from './run'

/** Runs in this process's memory: one server instance (the default). */
export class MemoryRunRegistry implements RunRegistry {
  private readonly runs = new Map<string, Run>()
  /** Each launched run's generation, until its final state is stored (or given up at shutdown). */
  private readonly launched = new Map<Run, Promise<RunFinal>>()
  private saver: ReturnType<typeof setInterval> | undefined
  private saving = false
  /** Since when saves have been failing (undefined: the last one worked). */
  private failingSince?: number
  private readonly log: Pick<Console, 'warn' | 'error'>
  private readonly complainOfSaves: (message: string, error?: unknown) => void

  constructor(private readonly io: GenerationIO) {
    this.log = io.log ?? console
    this.complainOfSaves = complaints(this.log)
  }

  get size() {
    return this.runs.size
  }

  reserve(messageId: string, owner: string, seed?: RunSeed): Run {
    const run = new Run(messageId, owner, seed)
    this.runs.set(messageId, run)
    return run
  }

  release(messageId: string) {
    this.runs.delete(messageId)
    this.updateSaver()
  }

  launch(run: Run, job: GenerationJob): Promise<RunFinal> {
    this.updateSaver()
    const launched = generate(run, job, this.io).then(
      // Not ours to write (its claim failed): it ended without a final state of its own.
      final => final ?? { status: 'stopped' as const },
    ).finally(() => {
      // A continued answer keeps its id: only forget this run, never a newer one.
      if (this.runs.get(run.messageId) === run) this.runs.delete(run.messageId)
      this.launched.delete(run)
      this.updateSaver()
    })
    this.launched.set(run, launched)
    return launched
  }

  async isRunning(messageId: string): Promise<boolean> {
    return this.runs.has(messageId)
  }

  async attach(messageId: string, offset: number, reasoningOffset?: number): Promise<RunReader | undefined> {
    return this.runs.get(messageId)?.reader(offset, reasoningOffset)
  }

  async stop(messageId: string): Promise<boolean> {
    const run = this.runs.get(messageId)
    if (!run) return false
    run.stop()
    await run.finished
    return true
  }

  async settle(messageId: string, final: RunFinal): Promise<boolean> {
    if (this.runs.has(messageId)) return false
    const stored = await this.io.load(messageId)
    if (!stored || (stored.status !== 'pending' && stored.status !== 'streaming')) return true
    await this.io.finish(messageId, { ...storedText(stored), ...(stored.usage ? { usage: stored.usage } : {}), ...final })
    return true
  }

  async interruptAll() {
    const runs = [...this.runs.values()]
    for (const run of runs) run.interrupt()
    // A run whose final state the database refuses has ended for its readers: interrupted, it stops
    // retrying, and is let go once a try in flight is over.
    await Promise.all(runs.map(run => this.launched.get(run) ?? run.finished))
  }

  /** Saves every running answer that changed, in one transaction. Runs on a timer; callable directly. */
  async save() {
    if (this.saving) return
    this.saving = true
    const dirty = [...this.runs.values()].filter(run => run.dirty && !run.final)
    try {
      for (const run of dirty) run.dirty = false
      await this.io.saveProgress(dirty.map(run => ({ id: run.messageId, ...run.snapshot() })))
      this.failingSince = undefined
    }
    catch (error) {
      this.complainOfSaves('[flume] saving running answers failed; retrying on every tick (their readers get the text from memory)', error)
      for (const run of dirty) run.dirty = true
      this.failingSince ??= Date.now()
      const grace = this.io.storageGraceMs
      // An outage that outlasts the grace: the answers that cannot be saved end here, with what
      // their readers have, rather than go on (and cost) with nowhere to keep their text.
      if (grace !== undefined && Date.now() - this.failingSince >= grace) {
        this.log.error(`[flume] the database has refused writes for ${Date.now() - this.failingSince} ms; ending ${dirty.length} running answer(s) as storage_unavailable`)
        for (const run of dirty) run.fail(STORAGE_LOST)
      }
    }
    finally {
      this.saving = false
    }
  }

  /** One timer for all runs, alive only while something runs. */
  private updateSaver() {
    if (this.runs.size && !this.saver) {
      this.saver = setInterval(() => void this.save(), this.io.saveIntervalMs)
      this.saver.unref?.()
    }
    else if (!this.runs.size && this.saver) {
      clearInterval(this.saver)
      this.saver = undefined
    }
  }
}
