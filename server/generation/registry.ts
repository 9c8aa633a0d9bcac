import type { Usage } from '#shared/schemas'
import type { ChatTurn, CompletionPart } from './llm'
import type { AnswerText, Run, RunFinal, RunReader, RunSeed } from './run'

export const INTERRUPTED_MESSAGE = 'The server restarted while this answer was being written. Retry to get a full answer.'

/** How an answer ends when the instance writing it went away. */
export const INTERRUPTED: RunFinal = { status: 'error', error: { code: 'interrupted', message: INTERRUPTED_MESSAGE } }

export interface GenerationJob {
  chatId: string
  owner: string
  model: string
  systemPrompt?: string
  temperature?: number
  /** Continue: the answer's text (and reasoning) so far, which the run is seeded with, and the tokens it already used. */
  continuation?: { text: string, reasoning?: string, reasoningMs?: number, usage?: Usage }
}

/**
 * Where runs live: the seam between one process and several. `MemoryRunRegistry` keeps them in
 * this process; with several instances a shared registry implements the same calls, and nothing
 * outside it may assume that "not in my memory" means "not running".
 */
export interface RunRegistry {
  /** Registers the run of an assistant message before the message is stored, so no reader can miss it. */
  reserve: (messageId: string, owner: string, seed?: RunSeed) => Run
  /**
   * Resolves once this instance may write the reserved answer (a shared registry's lease): true
   * before its message is stored, so another instance that sees it also sees who writes it; false
   * when another instance writes it. Absent: always true (one process).
   */
  held?: (messageId: string) => Promise<boolean>
  /** Drops a reserved run that never started (its message could not be stored). */
  release: (messageId: string) => void
  /** Starts generating in the background; the returned promise settles once the final state is stored. */
  launch: (run: Run, job: GenerationJob) => Promise<RunFinal>
  /** Whether the answer is being written, here or by any other instance. */
  isRunning: (messageId: string) => Promise<boolean>
  /**
   * A reader of the running answer from `offset`, wherever it is written; undefined if none runs.
   * With `reasoningOffset`, it reads the reasoning too from there (Run.reader).
   */
  attach: (messageId: string, offset: number, reasoningOffset?: number) => Promise<RunReader | undefined>
  /** Aborts the upstream request, wherever it runs, and waits until the final state is stored; false if nothing ran. */
  stop: (messageId: string) => Promise<boolean>
  /**
   * Ends an answer still marked running that no instance writes (its writer went away, or it never
   * started) with `final`, keeping its stored text (or more, if the registry knows more) and usage;
   * its readers on every instance get the final frames. False, with nothing written, when an
   * instance writes it now. An answer that is already final is left as it is (true).
   */
  settle: (messageId: string, final: RunFinal) => Promise<boolean>
  /** Ends every run of this process as `interrupted`, keeping its text: the server is going away. */
  interruptAll: () => Promise<void>
  /** Answers when the shared store behind the registry answers (health checks); absent when there is none. */
  ping?: () => Promise<void>
  /** Lets go of shared resources (connections) once nothing runs here any more. */
  close?: () => Promise<void>
  /** Runs written by this process. */
  readonly size: number
  /**
   * The edge: a request that stores an answer does not generate it; the first stream request does
   * (`adoptAnswer`), so that its reader keeps the generation's request alive.
   */
  readonly startsInStream?: boolean
}

/** What a generation needs from the outside world: the model and the database. */
export interface GenerationIO {
  saveIntervalMs: number
  /**
   * Mid-answer, how long saves may keep failing (the database refuses writes) before the answer is
   * cut short with `storage_unavailable` (docs/answer-limits.md). Absent: never.
   */
  storageGraceMs?: number
  complete: (request: { model: string, messages: ChatTurn[], temperature?: number, signal: AbortSignal }) => AsyncIterable<CompletionPart>
  /** Marks the pending answer as being written; false when it is no longer pending (taken, stopped or gone). */
  claim: (messageId: string) => Promise<boolean>
  history: (job: GenerationJob, messageId: string) => Promise<ChatTurn[]>
  saveProgress: (items: ({ id: string } & AnswerText)[]) => Promise<unknown>
  /** Stores the final state, only while the answer is still running (never over one that ended meanwhile). */
  finish: (messageId: string, final: RunFinal & AnswerText) => Promise<void>
  /** The stored text, status and usage of an answer (settling one nobody writes). */
  load: (messageId: string) => Promise<AnswerText & { status: string, usage?: Usage } | undefined>
  /** Told once an answer's final state is stored (titles, usage accounting, ...). Never awaited. */
  onFinished?: (event: AnswerFinished) => void
  log?: Pick<Console, 'warn' | 'error'>
}

export interface AnswerFinished extends GenerationJob {
  messageId: string
  content: string
  final: RunFinal
}
