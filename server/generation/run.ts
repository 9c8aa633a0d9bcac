import type { MessageError, Usage } from '#shared/schemas'

export interface RunFinal {
  status: 'done' | 'stopped' | 'error'
  error?: MessageError
  usage?: Usage
}

/** What a reader gets: the text after its offset (possibly empty) and, once the run ended, how. */
export interface ReadResult {
  text: string
  /** Length of the answer after `text`: the SSE frame id. */
  offset: number
  /** Reasoning after the reader's reasoning offset, for a reader that reads it (docs/reasoning.md). */
  reasoning?: string
  /** Length of the reasoning after `reasoning`, when the reader reads it and it is not empty. */
  reasoningOffset?: number
  final?: RunFinal
  /** The run was let go without an end of its own (another instance writes the answer): read it again elsewhere. */
  abandoned?: true
}

export interface RunReader {
  /** Resolves when there is text after the reader's offset, the run ended, or the reader was closed. */
  next: () => Promise<ReadResult>
  close: () => void
  readonly closed: boolean
  /**
   * The offset it was made with is past the end of the text: it would skip what comes until
   * then and number frames wrongly, so the stream route refuses it (400 `invalid_offset`).
   */
  readonly pastEnd?: boolean
}

/**
 * A text that grows by appends. Kept as a list of chunks with cumulative ends, so a reader's "text
 * after N" costs what is new, never the whole text (slicing a growing string would make long
 * answers quadratic).
 */
export class TextLog {
  private readonly chunks: string[] = []
  private readonly ends: number[] = []
  private joined = ''
  private joinedChunks = 0

  constructor(seed = '') {
    this.append(seed)
  }

  get length(): number {
    return this.ends.length ? this.ends[this.ends.length - 1]! : 0
  }

  append(text: string) {
    if (!text) return
    this.chunks.push(text)
    this.ends.push(this.length + text.length)
  }

  /** The whole text; joins only the chunks added since the last call. */
  text(): string {
    if (this.joinedChunks < this.chunks.length) {
      this.joined += this.chunks.slice(this.joinedChunks).join('')
      this.joinedChunks = this.chunks.length
    }
    return this.joined
  }

  /** Text after `offset` (a UTF-16 length, as the contract's ids). */
  textFrom(offset: number): string {
    if (offset >= this.length) return ''
    if (offset <= 0) return this.text()
    // First chunk that ends after offset.
    let lo = 0
    let hi = this.ends.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.ends[mid]! > offset) hi = mid
      else lo = mid + 1
    }
    const chunk = this.chunks[lo]!
    const head = chunk.slice(offset - (this.ends[lo]! - chunk.length))
    return lo === this.chunks.length - 1 ? head : head + this.chunks.slice(lo + 1).join('')
  }
}

/** An answer's text as stored: `reasoning` and `reasoningMs` only when the model reasoned. */
export interface AnswerText {
  content: string
  reasoning?: string
  reasoningMs?: number
}

/** Just the text fields of a stored answer (`reasoning` and `reasoningMs` only when it has them). */
export function storedText(stored: AnswerText): AnswerText {
  return {
    content: stored.content,
    ...(stored.reasoning ? { reasoning: stored.reasoning } : {}),
    ...(stored.reasoningMs === undefined ? {} : { reasoningMs: stored.reasoningMs }),
  }
}

/** What an answer has so far besides its text (Continue starts from it). */
export interface RunSeed {
  text?: string
  reasoning?: string
  /** How long the model thought before it answered, in ms (docs/reasoning.md). */
  reasoningMs?: number
}

/**
 * One generation: owns the abort controller, the answer's text and reasoning so far, and the
 * readers waiting for more.
 */
export class Run {
  readonly controller = new AbortController()
  readonly finished: Promise<RunFinal>
  final?: RunFinal
  /** Text or reasoning not yet saved to the database. */
  dirty = false
  /** Told after each append (a shared registry publishes the new text to other instances). */
  onAppend?: (run: Run) => void
  private readonly answer: TextLog
  /** The model's reasoning (docs/reasoning.md): its own text, never part of the answer. */
  private readonly thoughts: TextLog
  /** When this run began: the start of "thought for N s". */
  private readonly startedAt = Date.now()
  private thoughtMs?: number
  private readonly seedThoughtMs: number
  private waiting?: { promise: Promise<void>, resolve: () => void }
  private settle!: (final: RunFinal) => void

  /** `seed`: what the answer already has (Continue), served to readers as if it had streamed. */
  constructor(readonly messageId: string, readonly owner: string, seed: string | RunSeed = '') {
    this.finished = new Promise(resolve => (this.settle = resolve))
    const from = typeof seed === 'string' ? { text: seed } : seed
    this.answer = new TextLog(from.text)
    this.thoughts = new TextLog(from.reasoning)
    this.seedThoughtMs = from.reasoningMs ?? 0
    if (from.reasoningMs !== undefined) this.thoughtMs = from.reasoningMs
  }

  get length(): number {
    return this.answer.length
  }

  get reasoningLength(): number {
    return this.thoughts.length
  }

  append(text: string) {
    if (!text || this.final) return
    // The answer starts: the model is done thinking.
    if (this.thinking) this.stopThinking()
    this.answer.append(text)
    this.grew()
  }

  appendReasoning(text: string) {
    if (!text || this.final) return
    this.thoughts.append(text)
    this.thinking = true
    this.grew()
  }

  /** The model has reasoned in this run and not yet gone on with its answer. */
  private thinking = false

  private stopThinking() {
    this.thinking = false
    this.thoughtMs = this.seedThoughtMs + Date.now() - this.startedAt
  }

  /**
   * How long the model thought before it answered, in ms, once it did (or ended); undefined
   * while it thinks and for an answer without reasoning.
   */
  get reasoningMs(): number | undefined {
    return this.thoughtMs
  }

  /** The whole text so far. */
  text(): string {
    return this.answer.text()
  }

  /** Text after `offset` (a UTF-16 length, as the contract's ids). */
  textFrom(offset: number): string {
    return this.answer.textFrom(offset)
  }

  /** The whole reasoning so far. */
  reasoning(): string {
    return this.thoughts.text()
  }

  reasoningFrom(offset: number): string {
    return this.thoughts.textFrom(offset)
  }

  /** What is stored of the answer so far: its text and, when it has any, its reasoning. */
  snapshot(): AnswerText {
    const reasoningMs = this.thoughtMs
    return {
      content: this.text(),
      ...(this.reasoningLength ? { reasoning: this.reasoning() } : {}),
      ...(reasoningMs === undefined ? {} : { reasoningMs }),
    }
  }

  private grew() {
    this.dirty = true
    this.wake()
    this.onAppend?.(this)
  }

  /** Called once the final state is stored (or its first store failed: it is retried meanwhile): readers then send their last frames. */
  end(final: RunFinal) {
    if (this.final) return
    if (this.thinking) this.stopThinking()
    this.final = final
    this.settle(final)
    this.wake()
  }

  /** Set when the server shuts down under a run: it ends as `interrupted`, not `stopped`. */
  interrupted = false
  /** Set when the run is cut short for a reason of the server's (its database refuses writes): it ends in this error. */
  failure?: MessageError

  /** Ends the generation with `error` (its text so far kept), as a stop would end it. */
  fail(error: MessageError) {
    if (this.final || this.failure) return
    this.failure = error
    this.controller.abort()
  }

  /** Set when this run turned out not to be the one writing the answer. */
  abandoned = false

  /** Lets readers go without final frames; they attach again and find the answer where it is written. */
  abandon() {
    if (this.final) return
    this.abandoned = true
    this.settle({ status: 'stopped' })
    this.wake()
  }

  stop() {
    this.controller.abort()
  }

  /** Aborted with `interrupt()` only (a stop does not abort it): wakes the retries of a final state nobody could store. */
  readonly interruption = new AbortController()

  interrupt() {
    this.interrupted = true
    this.controller.abort()
    this.interruption.abort()
  }

  /**
   * A reader from `offset` of the answer and, when given, `reasoningOffset` of the reasoning
   * (without it, the reader gets no reasoning: formats that carry none).
   */
  reader(offset: number, reasoningOffset?: number): RunReader {
    const wake = () => this.wake()
    let position = Math.max(0, offset)
    let thought = reasoningOffset === undefined ? undefined : Math.max(0, reasoningOffset)
    let closed = false
    const at = (result: ReadResult): ReadResult => (thought ? { ...result, reasoningOffset: thought } : result)
    return {
      pastEnd: offset > this.length || (reasoningOffset ?? 0) > this.reasoningLength,
      get closed() {
        return closed
      },
      close() {
        closed = true
        // Wakes every reader of this run; the others just wait again.
        wake()
      },
      next: async () => {
        for (;;) {
          if (closed) return at({ text: '', offset: position })
          const reasoning = thought !== undefined && thought < this.reasoningLength ? this.reasoningFrom(thought) : ''
          if (reasoning || position < this.length) {
            const text = this.textFrom(position)
            position = this.length
            if (!reasoning) return at({ text, offset: position })
            thought = this.reasoningLength
            return at({ text, offset: position, reasoning })
          }
          if (this.final) return at({ text: '', offset: position, final: this.final })
          if (this.abandoned) return at({ text: '', offset: position, abandoned: true })
          await this.changed()
        }
      },
    }
  }

  private changed(): Promise<void> {
    if (!this.waiting) {
      let resolve!: () => void
      const promise = new Promise<void>(r => (resolve = r))
      this.waiting = { promise, resolve }
    }
    return this.waiting.promise
  }

  private wake() {
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.resolve()
  }
}
