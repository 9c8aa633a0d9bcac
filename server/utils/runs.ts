import type { MessageError, Usage } from '#shared/schemas'
import type { ChatTurn, CompletionPart } from './llm'
import { toUpstreamError } from './llm'
import { Run, type RunFinal, type RunReader } from './run'

export const INTERRUPTED_MESSAGE = 'The server restarted while this answer was being written. Retry to get a full answer.'

/** Sent after the partial answer when a person asks to continue it. */
export const CONTINUE_INSTRUCTION = 'Continue your previous answer exactly where it stopped. Do not repeat anything already written and do not comment on the interruption.'

export interface GenerationJob {
  chatId: string
  owner: string
  model: string
  systemPrompt?: string
  temperature?: number
  /** Continue: the answer's text so far (the run is seeded with it) and the tokens it already used. */
  continuation?: { text: string, usage?: Usage }
}

/**
 * Where runs live. This one keeps them in this process's memory; a Redis-backed registry
 * (several server instances) implements the same interface later.
 */
export interface RunRegistry {
  /** Registers the run of an assistant message before the message is stored, so no reader can miss it. */
  reserve: (messageId: string, owner: string, seed?: string) => Run
  /** Drops a reserved run that never started (its message could not be stored). */
  release: (messageId: string) => void
  /** Starts generating in the background; the returned promise settles once the final state is stored. */
  launch: (run: Run, job: GenerationJob) => Promise<RunFinal>
  /** Whether a run of this message is registered here (reserved or running). */
  has: (messageId: string) => boolean
  attach: (messageId: string, offset: number) => RunReader | undefined
  /** Aborts the upstream request and waits until the final state is stored; false if nothing ran. */
  stop: (messageId: string) => Promise<boolean>
  /** Ends every run as `interrupted`, keeping its text: the server is going away. */
  interruptAll: () => Promise<void>
  readonly size: number
}

/** What a generation needs from the outside world: the model and the database. */
export interface GenerationIO {
  saveIntervalMs: number
  complete: (request: { model: string, messages: ChatTurn[], temperature?: number, signal: AbortSignal }) => AsyncIterable<CompletionPart>
  claim: (messageId: string) => Promise<unknown>
  history: (job: GenerationJob, messageId: string) => Promise<ChatTurn[]>
  saveProgress: (items: { id: string, content: string }[]) => Promise<void>
  finish: (messageId: string, final: RunFinal & { content: string }) => Promise<void>
  /** Told once an answer's final state is stored (titles, usage accounting, ...). Never awaited. */
  onFinished?: (event: AnswerFinished) => void
  log?: Pick<Console, 'warn' | 'error'>
}

export interface AnswerFinished extends GenerationJob {
  messageId: string
  content: string
  final: RunFinal
}

export class MemoryRunRegistry implements RunRegistry {
  private readonly runs = new Map<string, Run>()
  private saver: ReturnType<typeof setInterval> | undefined
  private saving = false
  private readonly log: Pick<Console, 'warn' | 'error'>

  constructor(private readonly io: GenerationIO) {
    this.log = io.log ?? console
  }

  get size() {
    return this.runs.size
  }

  reserve(messageId: string, owner: string, seed?: string): Run {
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
    return this.generate(run, job).finally(() => {
      // A continued answer keeps its id: only forget this run, never a newer one.
      if (this.runs.get(run.messageId) === run) this.runs.delete(run.messageId)
      this.updateSaver()
    })
  }

  has(messageId: string): boolean {
    return this.runs.has(messageId)
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

  async interruptAll() {
    const runs = [...this.runs.values()]
    for (const run of runs) run.interrupt()
    await Promise.all(runs.map(run => run.finished))
  }

  /** Saves every running answer that changed, in one transaction. Runs on a timer; callable directly. */
  async save() {
    if (this.saving) return
    this.saving = true
    const dirty = [...this.runs.values()].filter(run => run.dirty && !run.final)
    try {
      for (const run of dirty) run.dirty = false
      await this.io.saveProgress(dirty.map(run => ({ id: run.messageId, content: run.text() })))
    }
    catch (error) {
      this.log.error('[flume] saving running answers failed; retrying on the next tick', error)
      for (const run of dirty) run.dirty = true
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

  /** Runs one generation to its end and stores the outcome. Never throws. */
  private async generate(run: Run, job: GenerationJob): Promise<RunFinal> {
    const { io } = this
    const signal = run.controller.signal
    let status: RunFinal['status'] = 'done'
    let error: MessageError | undefined
    let usage: Usage | undefined = job.continuation?.usage
    try {
      await io.claim(run.messageId)
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
        this.log.warn(`[flume] answer ${run.messageId} failed (${failure.code}):`, (cause as Error)?.message ?? cause)
      }
    }
    if (run.interrupted) {
      status = 'error'
      error = { code: 'interrupted', message: INTERRUPTED_MESSAGE }
    }
    const final: RunFinal = { status, ...(error ? { error } : {}), ...(usage ? { usage } : {}) }
    await this.persistFinal(run, final)
    run.end(final)
    try {
      io.onFinished?.({ ...job, messageId: run.messageId, content: run.text(), final })
    }
    catch (error) {
      this.log.error('[flume] an answer-finished listener failed', error)
    }
    return final
  }

  private async persistFinal(run: Run, final: RunFinal) {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.io.finish(run.messageId, { content: run.text(), ...final })
        return
      }
      catch (error) {
        // Readers still get the text from memory; keep trying briefly rather than lose it.
        if (attempt >= 5) {
          this.log.error(`[flume] could not store the final answer of ${run.messageId}`, error)
          return
        }
        await new Promise(resolve => setTimeout(resolve, 200 * attempt))
      }
    }
  }
}

/** What the model is sent: the system prompt, the conversation, and for Continue the partial answer. */
export function promptFor(job: GenerationJob, history: ChatTurn[]): ChatTurn[] {
  const turns = job.systemPrompt ? [{ role: 'system' as const, content: job.systemPrompt }, ...history] : history
  if (!job.continuation?.text) return turns
  return [...turns, { role: 'assistant', content: job.continuation.text }, { role: 'user', content: CONTINUE_INSTRUCTION }]
}

/** A continued answer counts the tokens of every call that wrote it. */
function addUsage(before: Usage | undefined, part: Usage): Usage {
  return {
    promptTokens: (before?.promptTokens ?? 0) + part.promptTokens,
    completionTokens: (before?.completionTokens ?? 0) + part.completionTokens,
  }
}

let registry: MemoryRunRegistry | undefined
const finishedListeners = new Set<(event: AnswerFinished) => unknown>()

/**
 * Runs `listener` after every answer's final state is stored (a Nitro plugin registers it at
 * boot: titles, accounting, ...). Nothing waits for it; its errors are logged. Returns an undo.
 */
export function onAnswerFinished(listener: (event: AnswerFinished) => unknown): () => void {
  finishedListeners.add(listener)
  return () => finishedListeners.delete(listener)
}

export function useRuns(): RunRegistry {
  registry ??= new MemoryRunRegistry({
    saveIntervalMs: useFlumeConfig().saveIntervalMs,
    complete: ({ model, messages, temperature, signal }) => streamCompletion({
      client: useOpenAI(),
      model,
      messages,
      temperature,
      signal,
      stallTimeoutMs: useFlumeConfig().stallTimeoutMs,
    }),
    claim: id => messageStore.claim(id),
    history: (job, id) => messageStore.history(job.owner, job.chatId, id),
    saveProgress: items => messageStore.saveProgress(items),
    finish: (id, final) => messageStore.finish(id, final),
    onFinished: (event) => {
      for (const listener of finishedListeners) {
        Promise.resolve().then(() => listener(event)).catch((error: unknown) => {
          console.error('[flume] an answer-finished listener failed', error)
        })
      }
    },
  })
  return registry
}
