import type { Usage } from '#shared/schemas'
import { isFinalStatus } from '#shared/schemas'
import type { SavedAnswer } from '../storage/store'
import { STORAGE_LOST, generate } from './generate'
import { INTERRUPTED, type GenerationIO, type GenerationJob, type RunRegistry } from './registry'
import { Run, storedText, type AnswerText, type ReadResult, type RunFinal, type RunReader, type RunSeed } from './run'

/** What the edge registry needs from the database beyond `GenerationIO`. */
export interface EdgeIO {
  /** Saves a running answer's text, or only its heartbeat (`text` undefined); false when it is not running any more. */
  save: (messageId: string, text?: AnswerText) => Promise<boolean>
  load: (messageId: string) => Promise<SavedAnswer | undefined>
  /** Ends a running answer keeping its saved text; with `heartbeatAt`, only if its writer has not saved since. */
  end: (messageId: string, final: RunFinal, heartbeatAt?: number) => Promise<boolean>
  /** Stores the text of an answer stopped from elsewhere, if it still has the text `saved`. */
  completeStopped: (messageId: string, text: AnswerText, saved: string, usage?: Usage) => Promise<boolean>
}

/**
 * Runs on the edge (cloudflare-module), where memory belongs to one isolate and lives only as long
 * as a request or its `waitUntil`. The stream request that finds an answer pending generates it
 * (`startsInStream`) and saves it every `saveIntervalMs`, which is also its heartbeat. Everything
 * else goes through the database: readers in other isolates follow the saved text, a stop from
 * another isolate ends the answer there and the writer notices it at its next save (it aborts the
 * upstream request and adds the text its own readers got), and an answer whose heartbeat is older
 * than `leaseMs` has lost its writer: the next reader, stop or stream request ends it `interrupted`.
 */
export class EdgeRunRegistry implements RunRegistry {
  readonly startsInStream = true
  private readonly runs = new Map<string, Run>()
  private readonly followIntervalMs: number
  private readonly log: Pick<Console, 'warn' | 'error'>

  constructor(private readonly io: GenerationIO, private readonly edge: EdgeIO, private readonly options: { leaseMs: number, followIntervalMs?: number }) {
    this.followIntervalMs = options.followIntervalMs ?? Math.min(500, Math.max(50, io.saveIntervalMs / 2))
    this.log = io.log ?? console
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
  }

  launch(run: Run, job: GenerationJob): Promise<RunFinal> {
    let saved = run.text()
    let stoppedElsewhere = false
    let saving: Promise<void> | undefined
    let failingSince: number | undefined
    const save = async () => {
      const text = run.dirty ? run.snapshot() : undefined
      run.dirty = false
      try {
        const running = await this.edge.save(run.messageId, text)
        failingSince = undefined
        if (running) {
          if (text !== undefined) saved = text.content
        }
        else if (!run.final) {
          stoppedElsewhere = true
          run.stop()
        }
      }
      catch (error) {
        if (text !== undefined) run.dirty = true
        this.log.error(`[flume] saving answer ${run.messageId} failed; retrying on the next tick`, error)
        failingSince ??= Date.now()
        const grace = this.io.storageGraceMs
        if (grace !== undefined && Date.now() - failingSince >= grace) run.fail(STORAGE_LOST)
      }
    }
    // One timer per run, made by the request that generates it: a timer outlives neither.
    const timer = setInterval(() => {
      saving ??= save().finally(() => (saving = undefined))
    }, this.io.saveIntervalMs)
    const io: GenerationIO = {
      ...this.io,
      finish: async (messageId, final) => {
        clearInterval(timer)
        await saving
        await this.io.finish(messageId, final)
        if (stoppedElsewhere && final.status === 'stopped') await this.edge.completeStopped(messageId, storedText(final), saved, final.usage)
      },
    }
    return generate(run, job, io).then(
      final => final ?? { status: 'stopped' as const },
    ).finally(() => {
      clearInterval(timer)
      if (this.runs.get(run.messageId) === run) this.runs.delete(run.messageId)
    })
  }

  async isRunning(messageId: string): Promise<boolean> {
    if (this.runs.has(messageId)) return true
    return this.written(await this.edge.load(messageId))
  }

  async attach(messageId: string, offset: number, reasoningOffset?: number): Promise<RunReader | undefined> {
    const local = this.runs.get(messageId)
    if (local) return local.reader(offset, reasoningOffset)
    return this.written(await this.edge.load(messageId)) ? this.follow(messageId, offset, reasoningOffset) : undefined
  }

  async stop(messageId: string): Promise<boolean> {
    const run = this.runs.get(messageId)
    if (run) {
      run.stop()
      await run.finished
      return true
    }
    // Written elsewhere (or by nobody): its writer sees the stop at its next save.
    const saved = await this.edge.load(messageId)
    return saved?.status === 'streaming' && await this.edge.end(messageId, { status: 'stopped' })
  }

  async settle(messageId: string, final: RunFinal): Promise<boolean> {
    if (this.runs.has(messageId)) return false
    const saved = await this.edge.load(messageId)
    if (!saved || isFinalStatus(saved.status)) return true
    if (this.written(saved)) return false
    if (await this.edge.end(messageId, final, saved.heartbeatAt ?? 0)) return true
    // Claimed or saved meanwhile: it has a writer again, unless it ended.
    const now = await this.edge.load(messageId)
    return !now || isFinalStatus(now.status)
  }

  async interruptAll() {
    const runs = [...this.runs.values()]
    for (const run of runs) run.interrupt()
    await Promise.all(runs.map(run => run.finished))
  }

  /** Streaming, and its writer saved it within the lease. */
  private written(saved: SavedAnswer | undefined): boolean {
    return saved?.status === 'streaming' && Date.now() - (saved.heartbeatAt ?? 0) <= this.options.leaseMs
  }

  /**
   * A reader of an answer written in another isolate: the saved text after its offset, polled every
   * `followIntervalMs`, then its final state. Offsets index the saved text, so a reader moves
   * between memory and the database without gap or duplicate; an offset past the saved text is
   * taken as it is (never `pastEnd`): the writer's own readers get text before it is saved, and
   * one of them may come back here. An answer that went back to
   * `pending` (reopened) lets the reader go without an end: it reconnects and starts it.
   */
  private follow(messageId: string, offset: number, reasoningOffset?: number): RunReader {
    let position = Math.max(0, offset)
    let thought = reasoningOffset === undefined ? undefined : Math.max(0, reasoningOffset)
    const at = (result: ReadResult): ReadResult => (thought ? { ...result, reasoningOffset: thought } : result)
    let closed = false
    let wake: (() => void) | undefined
    const pause = () => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.followIntervalMs)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    return {
      get closed() {
        return closed
      },
      close() {
        closed = true
        wake?.()
      },
      next: async () => {
        for (;;) {
          if (closed) return at({ text: '', offset: position })
          const saved = await this.edge.load(messageId)
          if (!saved) return at({ text: '', offset: position, final: { status: 'stopped' } })
          const savedReasoning = saved.reasoning ?? ''
          const reasoning = thought !== undefined && savedReasoning.length > thought ? savedReasoning.slice(thought) : ''
          if (reasoning || saved.content.length > position) {
            const text = saved.content.slice(position)
            position = Math.max(position, saved.content.length)
            if (!reasoning) return at({ text, offset: position })
            thought = savedReasoning.length
            return at({ text, offset: position, reasoning })
          }
          if (isFinalStatus(saved.status)) {
            const final: RunFinal = {
              status: saved.status as RunFinal['status'],
              ...(saved.error ? { error: saved.error } : {}),
              ...(saved.usage ? { usage: saved.usage } : {}),
            }
            return at({ text: '', offset: position, final })
          }
          if (saved.status === 'pending') return at({ text: '', offset: position, abandoned: true })
          if (!this.written(saved)) {
            await this.settle(messageId, INTERRUPTED)
            continue
          }
          await pause()
        }
      },
    }
  }
}
