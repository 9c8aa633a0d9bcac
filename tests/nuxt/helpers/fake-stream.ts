import { afterEach, beforeEach, vi } from 'vitest'

/** A stand-in for the browser's EventSource that the test drives frame by frame. */
export class FakeEventSource {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSED = 2
  static instances: FakeEventSource[] = []

  readonly url: string
  readyState = FakeEventSource.CONNECTING
  onopen: ((event: Event) => void) | null = null
  onmessage: ((event: MessageEvent<string>) => void) | null = null
  onerror: ((event: Event) => void) | null = null

  constructor(url: string | URL) {
    this.url = String(url)
    FakeEventSource.instances.push(this)
  }

  close() {
    this.readyState = FakeEventSource.CLOSED
  }

  get closed() {
    return this.readyState === FakeEventSource.CLOSED
  }

  /** Sends one `data:` frame; `id` is the text length after it, as the server sends (or its `<answer>,<reasoning>` pair). */
  frame(data: unknown, id: number | string) {
    if (this.closed) throw new Error('frame sent to a closed EventSource')
    this.readyState = FakeEventSource.OPEN
    const text = typeof data === 'string' ? data : JSON.stringify(data)
    this.onmessage?.(new MessageEvent('message', { data: text, lastEventId: String(id) }))
  }

  /** A dropped connection: the browser would reconnect (CONNECTING) or give up (CLOSED). */
  fail(readyState: number) {
    this.readyState = readyState
    this.onerror?.(new Event('error'))
  }
}

/** Animation frames that run only when the test says so. */
export function manualFrames() {
  let next = 1
  const callbacks = new Map<number, FrameRequestCallback>()
  const request = vi.fn((cb: FrameRequestCallback) => {
    callbacks.set(next, cb)
    return next++
  })
  vi.stubGlobal('requestAnimationFrame', request)
  vi.stubGlobal('cancelAnimationFrame', (id: number) => callbacks.delete(id))
  return {
    request,
    get pending() {
      return callbacks.size
    },
    run() {
      const due = [...callbacks.values()]
      callbacks.clear()
      for (const cb of due) cb(performance.now())
    },
  }
}

/**
 * The clock that paces streamed text (timers and performance.now()) stands still until the test
 * moves it; animation frames stay with manualFrames(). Undo with vi.useRealTimers().
 */
export function manualClock() {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  return {
    advance(ms: number) {
      vi.advanceTimersByTime(ms)
    },
  }
}

export function stubEventSource() {
  FakeEventSource.instances = []
  vi.stubGlobal('EventSource', FakeEventSource)
  return FakeEventSource
}

export function lastEventSource() {
  const es = FakeEventSource.instances.at(-1)
  if (!es) throw new Error('no EventSource was opened')
  return es
}

/**
 * For a test file that follows answers: before each test a fake EventSource and manual animation
 * frames, after it the real globals and timers back. Answers the current test's frames.
 */
export function useFakeStreams() {
  let current: ReturnType<typeof manualFrames> | undefined
  beforeEach(() => {
    stubEventSource()
    current = manualFrames()
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })
  const frames = () => {
    if (!current) throw new Error('useFakeStreams: no test is running')
    return current
  }
  return {
    get request() {
      return frames().request
    },
    get pending() {
      return frames().pending
    },
    run: () => frames().run(),
  }
}
