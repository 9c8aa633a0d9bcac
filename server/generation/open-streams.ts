import type { H3Event } from 'h3'
import type { RunReader } from './run'

/** Open streams per identity, in this process (FLUME_MAX_STREAMS). */
const open = new Map<string, number>()

/** Seconds a refused stream should wait before trying again. */
export const STREAM_RETRY_AFTER_S = 5

/**
 * Counts one more open stream of `owner` and answers its release (which may be called any number
 * of times), or undefined once the identity holds FLUME_MAX_STREAMS (each one holds a socket, a
 * reader and its timers).
 */
export function takeStreamSlot(owner: string): (() => void) | undefined {
  const max = useFlumeConfig().maxOpenStreams
  const count = open.get(owner) ?? 0
  if (max > 0 && count >= max) return undefined
  open.set(owner, count + 1)
  let held = true
  return () => {
    if (!held) return
    held = false
    const left = (open.get(owner) ?? 1) - 1
    if (left > 0) open.set(owner, left)
    else open.delete(owner)
  }
}

/** takeStreamSlot for an HTTP stream: a refusal is 429 `rate_limited` with `Retry-After`. */
export function holdStreamSlot(event: H3Event, owner: string): () => void {
  const release = takeStreamSlot(owner)
  if (release) return release
  setResponseHeader(event, 'retry-after', STREAM_RETRY_AFTER_S)
  throw httpError(429, 'rate_limited', 'Too many streams are open for this session. Close some tabs, or try again in a few seconds.')
}

/**
 * The reader, releasing `release` when it is closed: the stream closes it however it ends (the
 * final frames, the client gone, a write timeout, an error).
 */
export function releasingOnClose(reader: RunReader, release: () => void): RunReader {
  return {
    next: () => reader.next(),
    close() {
      release()
      reader.close()
    },
    get closed() {
      return reader.closed
    },
    pastEnd: reader.pastEnd,
  }
}
