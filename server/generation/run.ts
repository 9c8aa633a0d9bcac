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
 * One generation: owns the abort controller, the text so far and the readers waiting for more.
 * Text is kept as a list of chunks with cumulative ends, so a reader's "text after N" costs
 * what is new, never the whole answer (slicing a growing string would make long answers quadratic).
 */
export class Run {
  readonly controller = new AbortController()
  readonly finished: Promise<RunFinal>
  final?: RunFinal
  /** Text not yet saved to the database. */
  dirty = false
  /** Told after each append (a shared registry publishes the new text to other instances). */
  onAppend?: (run: Run) => void
  private readonly chunks: string[] = []
  private readonly ends: number[] = []
  private joined = ''
  private joinedChunks = 0
  private waiting?: { promise: Promise<void>, resolve: () => void }
  private settle!: (final: RunFinal) => void

  /** `seed`: text the answer already has (Continue), served to readers as if it had streamed. */
  constructor(readonly messageId: string, readonly owner: string, seed = '') {
    this.finished = new Promise(resolve => (this.settle = resolve))
    if (seed) {
      this.chunks.push(seed)
      this.ends.push(seed.length)
    }
  }

  get length(): number {
    return this.ends.length ? this.ends[this.ends.length - 1]! : 0
  }

  append(text: string) {
    if (!text || this.final) return
    this.chunks.push(text)
    this.ends.push(this.length + text.length)
    this.dirty = true
    this.wake()
    this.onAppend?.(this)
  }

  /** The whole text so far; joins only the chunks added since the last call. */
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

  /** Called once the final state is stored (or its first store failed: it is retried meanwhile): readers then send their last frames. */
  end(final: RunFinal) {
    if (this.final) return
    this.final = final
    this.settle(final)
    this.wake()
  }

  /** Set when the server shuts down under a run: it ends as `interrupted`, not `stopped`. */
  interrupted = false
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

  reader(offset: number): RunReader {
    const wake = () => this.wake()
    let position = Math.max(0, offset)
    let closed = false
    return {
      pastEnd: offset > this.length,
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
          if (closed) return { text: '', offset: position }
          if (position < this.length) {
            const text = this.textFrom(position)
            position = this.length
            return { text, offset: position }
          }
          if (this.final) return { text: '', offset: position, final: this.final }
          if (this.abandoned) return { text: '', offset: position, abandoned: true }
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
