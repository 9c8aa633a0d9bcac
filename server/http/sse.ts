import type { H3Event } from 'h3'
import type { ServerResponse } from 'node:http'
import { DONE_SENTINEL, type Message, type StreamEvent } from '#shared/schemas'
import { useFlumeConfig } from '../utils/config'
import { formatStreamId, type StreamPosition } from '#shared/stream-id'
import type { AnswerText, RunFinal, RunReader } from '../generation/run'

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  'connection': 'keep-alive',
} as const

/**
 * One SSE frame. `data` is JSON without raw newlines, so one `data:` line always suffices. The id
 * is where the reader is after it (shared/stream-id.ts): the answer's length, and the reasoning's
 * once there is any (docs/reasoning.md).
 */
export function frame(at: StreamPosition, data: StreamEvent | typeof DONE_SENTINEL): string {
  return `id: ${formatStreamId(at)}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`
}

export const PING = ': ping\n\n'

/** Browsers wait about 3 s before reconnecting a dropped stream; 1 s resumes sooner. */
export const RETRY = 'retry: 1000\n\n'

/** The frames that close a stream: usage, error, then the sentinel. */
export function finalFrames(at: StreamPosition, final: RunFinal): string {
  let out = ''
  if (final.usage) out += frame(at, { type: 'usage', ...final.usage })
  if (final.error) out += frame(at, { type: 'error', ...final.error })
  return out + frame(at, DONE_SENTINEL)
}

/**
 * How an answer goes on the wire for one kind of client: the contract's JSON SSE frames here, and
 * other formats beside it (plain text, htmx, the AI SDK's UI message stream). Every format is an
 * encoder of the same run reader; the run, the store and the routes stay one.
 */
export interface StreamFormat {
  headers: Readonly<Record<string, string>>
  /** Written first, before any text (SSE `retry:`, a message's opening parts). */
  open: string
  /** Text the answer gained; `at` is where the reader is after it (`at.answer`: the answer's length). */
  delta: (at: StreamPosition, text: string) => string
  /**
   * Reasoning the answer gained (docs/reasoning.md), sent before the text of the same read; `at`
   * is where the reader is after it. Absent: the format carries no reasoning, and its readers
   * read none (their offsets are the answer's alone).
   */
  reasoning?: (at: StreamPosition, text: string) => string
  /** The end of the answer, at `at` (its whole length). */
  end: (at: StreamPosition, final: RunFinal) => string
  /** Written to an idle stream now and then so proxies keep it open; none where any byte would be text. */
  ping?: string
}

/** The contract's stream (CONTRACT.md, "The stream"): `id:` offsets, JSON events, `[DONE]`. */
export const jsonSse: StreamFormat = {
  headers: SSE_HEADERS,
  open: RETRY,
  delta: (at, text) => frame(at, { type: 'delta', text }),
  reasoning: (at, text) => frame(at, { type: 'reasoning', text }),
  end: finalFrames,
  ping: PING,
}

/** Said when an offset lies past what an answer has: 400 `invalid_offset`, or the WebSocket's error frame. */
export const PAST_END = 'The offset is past the end of this answer.'

/** A stored answer's end as its run reported it: its status, and its error and usage if any. */
export function finalOf(message: Pick<Message, 'status' | 'error' | 'usage'>): RunFinal {
  return {
    status: message.status as RunFinal['status'],
    ...(message.error ? { error: message.error } : {}),
    ...(message.usage ? { usage: message.usage } : {}),
  }
}

/** What is left of a finished answer for a reader at `from`, and where its texts end. */
export interface AnswerRest {
  from: StreamPosition
  end: StreamPosition
  reasoning: string
  text: string
}

/**
 * The rest of a finished answer from `from`: of its reasoning (none when `withReasoning` is
 * false: the format carries none, and its offsets are the answer's alone) and of its text.
 * Undefined when `from` lies past the end of either.
 */
export function restOf(stored: AnswerText, from: StreamPosition, withReasoning = true): AnswerRest | undefined {
  const thoughts = withReasoning ? stored.reasoning ?? '' : ''
  const end = { answer: stored.content.length, reasoning: thoughts.length }
  if (from.answer > end.answer || from.reasoning > end.reasoning) return undefined
  return { from, end, reasoning: thoughts.slice(from.reasoning), text: stored.content.slice(from.answer) }
}

/** A finished answer's rest as `format` sends it: the rest of its reasoning, of its text, then its end. */
export function finishedBody(format: StreamFormat, rest: AnswerRest, final: RunFinal): string {
  return (rest.reasoning && format.reasoning ? format.reasoning({ answer: rest.from.answer, reasoning: rest.end.reasoning }, rest.reasoning) : '')
    + (rest.text ? format.delta(rest.end, rest.text) : '')
    + format.end(rest.end, final)
}

/** Where frames go: a Node response or a web stream. `write` answers false when the peer is slow. */
interface Sink {
  write: (chunk: string) => boolean
  drained: () => Promise<void>
  end: () => void
  /** Drops the connection (a peer that stopped reading). */
  abort: () => void
  readonly closed: boolean
  onClose: (fn: () => void) => void
}

/**
 * Sends a reader as SSE: what is pending goes out merged into one frame, `: ping` while idle,
 * and the final frames at the end. Stops reading as soon as the client is gone.
 */
export function sendRun(event: H3Event, reader: RunReader, format: StreamFormat = jsonSse) {
  return streamTo(event, format.headers, async (sink) => {
    const { heartbeatMs, writeTimeoutMs } = useFlumeConfig()
    let lastWrite = Date.now()
    const send = async (chunk: string) => {
      lastWrite = Date.now()
      if (sink.write(chunk)) return
      // A reader that stopped reading (a stalled client, a full proxy) would otherwise hold this
      // stream, its buffers and the run's text forever: after writeTimeoutMs without draining, it
      // is dropped. A browser that was merely slow reconnects with Last-Event-ID.
      let timer: ReturnType<typeof setTimeout> | undefined
      const stuck = new Promise<'stuck'>(resolve => (timer = setTimeout(resolve, writeTimeoutMs, 'stuck')))
      const outcome = await Promise.race([sink.drained(), stuck])
      clearTimeout(timer)
      if (outcome === 'stuck') {
        sink.abort()
        reader.close()
      }
    }
    // Checked four times per period: a ping goes out after 3/4 of a period of silence, so no
    // silence lasts a full period (a check once per period would allow almost two).
    const { ping } = format
    const heartbeat = ping && setInterval(() => {
      if (Date.now() - lastWrite >= heartbeatMs * 0.75) {
        lastWrite = Date.now()
        sink.write(ping)
      }
    }, heartbeatMs / 4)
    sink.onClose(() => reader.close())
    if (format.open) sink.write(format.open)
    try {
      for (;;) {
        const { text, offset, reasoning, reasoningOffset = 0, final, abandoned } = await reader.next()
        if (sink.closed || reader.closed) return
        const at = { answer: offset, reasoning: reasoningOffset }
        // The reasoning of a read came before its text: its frame's id has the answer without it.
        if (reasoning && format.reasoning) await send(format.reasoning({ answer: offset - text.length, reasoning: reasoningOffset }, reasoning))
        if (text) await send(format.delta(at, text))
        // Ending without [DONE] makes an EventSource reconnect (Last-Event-ID): it then reads
        // the answer from the instance that really writes it.
        if (abandoned) return
        if (final) {
          await send(format.end(at, final))
          return
        }
      }
    }
    finally {
      if (heartbeat) clearInterval(heartbeat)
      reader.close()
      sink.end()
    }
  })
}

/** Sends frames that are already known (a finished message read from the database). */
export function sendFrames(event: H3Event, frames: string, headers: StreamFormat['headers'] = SSE_HEADERS) {
  const res = event.node?.res as ServerResponse | undefined
  if (res?.socket) {
    // Headers and every frame in one write.
    res.writeHead(200, headers)
    res.end(frames)
    return
  }
  return streamTo(event, headers, async (sink) => {
    sink.write(frames)
    sink.end()
  })
}

/**
 * On Node we write to the socket ourselves: h3 v1's event streams miss a client that left
 * once a body was read, and a returned ReadableStream is never cancelled there.
 * Elsewhere (web presets) we own the ReadableStream and treat cancel() as the client leaving.
 */
function streamTo(event: H3Event, headers: StreamFormat['headers'], pump: (sink: Sink) => Promise<void>) {
  const res = event.node?.res as ServerResponse | undefined
  if (res?.socket) {
    // Not flushed on their own: the headers leave with the first write, in one packet.
    res.writeHead(200, headers)
    res.socket.setNoDelay(true)
    const sink = nodeSink(res)
    return pump(sink).catch((error) => {
      console.error('[flume] stream failed', error)
      sink.end()
    })
  }
  const encoder = new TextEncoder()
  let closeHandlers: (() => void)[] = []
  let closed = false
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let resume: (() => void) | undefined
  const close = () => {
    if (closed) return
    closed = true
    for (const fn of closeHandlers) fn()
    closeHandlers = []
    resume?.()
  }
  event.web?.request?.signal?.addEventListener('abort', close)
  const sink: Sink = {
    get closed() {
      return closed
    },
    write(chunk) {
      if (closed) return true
      try {
        controller.enqueue(encoder.encode(chunk))
      }
      catch {
        close()
        return true
      }
      return (controller.desiredSize ?? 1) > 0
    },
    drained: () => new Promise<void>(resolve => (resume = resolve)),
    abort() {
      if (closed) return
      try {
        controller.error(new Error('the reader stopped reading'))
      }
      catch { /* already closed */ }
      close()
    },
    end() {
      if (closed) return
      closed = true
      try {
        controller.close()
      }
      catch { /* already closed */ }
    },
    onClose: fn => closeHandlers.push(fn),
  }
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
      void pump(sink).catch(() => sink.end())
    },
    pull() {
      const r = resume
      resume = undefined
      r?.()
    },
    cancel: close,
  }, { highWaterMark: 16 })
  return new Response(body, { status: 200, headers })
}

function nodeSink(res: ServerResponse): Sink {
  let closed = false
  const handlers: (() => void)[] = []
  res.on('close', () => {
    closed = true
    for (const fn of handlers.splice(0)) fn()
  })
  return {
    get closed() {
      return closed || res.destroyed
    },
    write: chunk => (closed ? true : res.write(chunk)),
    drained: () => new Promise<void>((resolve) => {
      if (closed) return resolve()
      const done = () => {
        res.off('drain', done)
        res.off('close', done)
        resolve()
      }
      res.on('drain', done)
      res.on('close', done)
    }),
    end() {
      if (!closed && !res.writableEnded) res.end()
    },
    abort() {
      res.destroy()
    },
    onClose(fn) {
      if (closed) fn()
      else handlers.push(fn)
    },
  }
}
