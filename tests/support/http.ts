/**
 * A small HTTP client for tests: one cookie jar per identity, JSON helpers, and an SSE
 * reader over fetch that parses frames as a browser EventSource would see them.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever the server answered
type AnyJson = any

export interface JsonResponse<T = AnyJson> {
  status: number
  headers: Headers
  /** Parsed JSON, or undefined when the body was empty or not JSON. */
  body: T
  text: string
}

export interface Client {
  baseUrl: string
  /** The jar: cookie name -> value. */
  cookies: Map<string, string>
  /** Every raw `set-cookie` header received, in order. */
  setCookieHeaders: string[]
  /** fetch relative to baseUrl, sending and storing cookies. */
  fetch: (path: string, init?: RequestInit) => Promise<Response>
  json: <T = AnyJson>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<JsonResponse<T>>
  /** Sends `body` as it is (invalid JSON, huge bodies...). Content type defaults to JSON. */
  raw: <T = AnyJson>(method: string, path: string, body?: string | Uint8Array, headers?: Record<string, string>) => Promise<JsonResponse<T>>
}

export function createClient(baseUrl: string): Client {
  const cookies = new Map<string, string>()
  const setCookieHeaders: string[] = []

  const doFetch = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers)
    if (cookies.size && !headers.has('cookie')) {
      headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    }
    const res = await fetch(new URL(path, baseUrl), { redirect: 'manual', ...init, headers })
    for (const line of res.headers.getSetCookie()) {
      setCookieHeaders.push(line)
      const [pair] = line.split(';')
      const eq = pair!.indexOf('=')
      if (eq <= 0) continue
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      const expired = /max-age=0\b/i.test(line) || /expires=thu, 01 jan 1970/i.test(line)
      if (expired || value === '') cookies.delete(name)
      else cookies.set(name, value)
    }
    return res
  }

  const readJson = async <T>(res: Response): Promise<JsonResponse<T>> => {
    const text = await res.text()
    let body: AnyJson
    try {
      body = text ? JSON.parse(text) : undefined
    }
    catch {
      body = undefined
    }
    return { status: res.status, headers: res.headers, body, text }
  }

  const client: Client = {
    baseUrl,
    cookies,
    setCookieHeaders,
    fetch: doFetch,
    async json(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { accept: 'application/json', ...headers } }
      if (body !== undefined) {
        const h = init.headers as Record<string, string>
        h['content-type'] = 'application/json'
        init.body = JSON.stringify(body)
      }
      return await readJson(await doFetch(path, init))
    },
    async raw(method, path, body, headers = {}) {
      const init: RequestInit = {
        method,
        headers: { 'accept': 'application/json', 'content-type': 'application/json', ...headers },
        body: body as BodyInit | undefined,
      }
      return await readJson(await doFetch(path, init))
    },
  }
  return client
}

// ---------------------------------------------------------------------------------------
// SSE

export interface SseFrame {
  /** The `id:` field of this frame, if it had one. */
  id?: string
  /** `data:` lines joined with "\n", if it had any. */
  data?: string
  /** Comment lines (after the `:`, one leading space removed) joined with "\n", if any. */
  comment?: string
  event?: string
  retry?: string
}

export type StreamEvent
  = | { type: 'delta', text: string }
    | { type: 'usage', promptTokens: number, completionTokens: number }
    | { type: 'error', code: string, message: string }
    | { type: 'done' }

export interface SseStream {
  status: number
  headers: Headers
  /** The body when the answer was not 200 (an error's JSON, or '' for 204). */
  errorText: string
  /** Every frame parsed so far, comments included. */
  frames: SseFrame[]
  /** All text received so far, as sent. */
  raw: string
  /** Joined `delta.text` of all frames received so far. */
  readonly text: string
  /** Whether the response body has ended (or was cancelled). */
  readonly ended: boolean
  /** Bytes that came after the last blank line when the body ended (should be none). */
  readonly leftover: string
  /** The next frame not yet returned by next()/nextData(), waiting for it if needed; undefined when the body ended. */
  next: (timeoutMs?: number) => Promise<SseFrame | undefined>
  /** Like next(), skipping frames without data (comments). */
  nextData: (timeoutMs?: number) => Promise<SseFrame | undefined>
  /** Reads data frames up to and including `[DONE]`; returns them (comments excluded). Throws if the body ends first. */
  readUntilDone: (timeoutMs?: number) => Promise<SseFrame[]>
  /** Waits until the joined delta text satisfies `check`. */
  waitForText: (check: (text: string) => boolean, timeoutMs?: number) => Promise<string>
  /** Waits for any frame (read or not) satisfying `check`. */
  waitForFrame: (check: (f: SseFrame) => boolean, timeoutMs?: number) => Promise<SseFrame>
  /** Waits until the response body ends. */
  waitEnd: (timeoutMs?: number) => Promise<void>
  /** Closes the connection, as a closed tab would. */
  cancel: () => void
}

export interface OpenStreamOptions {
  lastEventId?: string | number
  signal?: AbortSignal
  headers?: Record<string, string>
}

/** Parses a frame's data as a stream event (`[DONE]` -> `{ type: 'done' }`). */
export function eventOf(frame: SseFrame): StreamEvent | undefined {
  if (frame.data === undefined) return undefined
  if (frame.data === '[DONE]') return { type: 'done' }
  return JSON.parse(frame.data) as StreamEvent
}

/** Joined `delta.text` of the given frames. */
export function textOf(frames: SseFrame[]): string {
  let text = ''
  for (const f of frames) {
    const e = eventOf(f)
    if (e?.type === 'delta') text += e.text
  }
  return text
}

/** An incremental SSE parser (WHATWG rules for lines and fields); calls `onFrame` at each blank line. */
export function createSseParser(onFrame: (frame: SseFrame) => void) {
  let buffer = ''
  let cur: SseFrame = {}
  let curHas = false
  const dataLines: string[] = []
  const commentLines: string[] = []

  const dispatch = () => {
    if (!curHas) return
    if (dataLines.length) cur.data = dataLines.join('\n')
    if (commentLines.length) cur.comment = commentLines.join('\n')
    const done = cur
    cur = {}
    curHas = false
    dataLines.length = 0
    commentLines.length = 0
    onFrame(done)
  }

  const onLine = (line: string) => {
    if (line === '') return dispatch()
    curHas = true
    if (line.startsWith(':')) {
      commentLines.push(line.slice(1).replace(/^ /, ''))
      return
    }
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'data') dataLines.push(value)
    else if (field === 'id') cur.id = value
    else if (field === 'event') cur.event = value
    else if (field === 'retry') cur.retry = value
  }

  return {
    /** Feeds decoded text; `final` at the end of the body (a trailing CR then ends its line). */
    feed(chunk: string, final = false) {
      buffer += chunk
      let start = 0
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i]
        if (c === '\n' || c === '\r') {
          if (c === '\r' && i === buffer.length - 1 && !final) break // maybe a CRLF split across chunks
          onLine(buffer.slice(start, i))
          if (c === '\r' && buffer[i + 1] === '\n') i++
          start = i + 1
        }
      }
      buffer = buffer.slice(start)
    },
    /** Text after the last line end (an unfinished line). */
    get pending() { return buffer + (curHas ? '<unfinished frame>' : '') },
  }
}

/** Parses a whole SSE body. */
export function parseSse(text: string): SseFrame[] {
  const frames: SseFrame[] = []
  const p = createSseParser(f => frames.push(f))
  p.feed(text, true)
  return frames
}

export async function openStream(client: Client, url: string, opts: OpenStreamOptions = {}): Promise<SseStream> {
  const controller = new AbortController()
  if (opts.signal) {
    if (opts.signal.aborted) controller.abort()
    else opts.signal.addEventListener('abort', () => controller.abort(), { once: true })
  }
  const headers: Record<string, string> = { 'accept': 'text/event-stream', 'cache-control': 'no-cache', ...opts.headers }
  if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId)
  const res = await client.fetch(url, { headers, signal: controller.signal })

  const frames: SseFrame[] = []
  let cursor = 0
  let ended = false
  let text = ''
  let raw = ''
  let errorText = ''
  let streamError: unknown
  let wake: () => void = () => {}
  const arm = () => new Promise<void>((resolve) => {
    wake = resolve
  })
  let changed = arm()
  const notify = () => {
    const w = wake
    changed = arm()
    w()
  }

  const parser = createSseParser((f) => {
    frames.push(f)
    if (f.data !== undefined && f.data !== '[DONE]') {
      try {
        const e = JSON.parse(f.data)
        if (e?.type === 'delta' && typeof e.text === 'string') text += e.text
      }
      catch { /* left to the test */ }
    }
  })
  const feed = (chunk: string, final: boolean) => parser.feed(chunk, final)

  if (res.status !== 200 || !res.body) {
    errorText = await res.text().catch(() => '')
    ended = true
  }
  else {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          raw += value
          feed(value, false)
          notify()
        }
        feed('', true)
      }
      catch (err) {
        if (!controller.signal.aborted) streamError = err
      }
      finally {
        ended = true
        notify()
      }
    })()
  }

  const describe = () => `frames so far: ${JSON.stringify(frames)}`

  const waitFor = async <T>(get: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const v = get()
      if (v !== undefined) return v
      if (streamError) throw new Error(`stream failed while waiting for ${what}: ${String(streamError)}; ${describe()}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${describe()}`)
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left)
      })
      await Promise.race([changed, timeout])
      clearTimeout(timer)
    }
  }

  const END = Symbol('end')
  const stream: SseStream = {
    status: res.status,
    headers: res.headers,
    errorText,
    frames,
    get raw() { return raw },
    get text() { return text },
    get ended() { return ended },
    get leftover() { return parser.pending },
    async next(timeoutMs = 10_000) {
      const v = await waitFor<SseFrame | typeof END>(() => cursor < frames.length ? frames[cursor++] : ended ? END : undefined, timeoutMs, 'the next frame')
      return v === END ? undefined : v
    },
    async nextData(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const f = await stream.next(Math.max(1, deadline - Date.now()))
        if (!f || f.data !== undefined) return f
      }
    },
    async readUntilDone(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      const out: SseFrame[] = []
      for (;;) {
        const f = await stream.nextData(Math.max(1, deadline - Date.now()))
        if (!f) throw new Error(`stream ended before [DONE]; ${describe()}`)
        out.push(f)
        if (f.data === '[DONE]') return out
      }
    },
    async waitForText(check, timeoutMs = 10_000) {
      return await waitFor(() => {
        if (check(text)) return text
        if (ended) throw new Error(`stream ended; text so far ${JSON.stringify(text)}`)
        return undefined
      }, timeoutMs, 'text')
    },
    async waitForFrame(check, timeoutMs = 10_000) {
      return await waitFor(() => {
        const found = frames.find(check)
        if (found) return found
        if (ended) throw new Error(`stream ended without such a frame; ${describe()}`)
        return undefined
      }, timeoutMs, 'a frame')
    },
    async waitEnd(timeoutMs = 10_000) {
      await waitFor(() => ended ? true : undefined, timeoutMs, 'the end of the response')
    },
    cancel() {
      controller.abort()
    },
  }
  return stream
}

// ---------------------------------------------------------------------------------------

/** Polls `get` until `check` passes; returns the last value. */
export async function poll<T>(get: () => Promise<T>, check: (v: T) => boolean, { timeoutMs = 10_000, intervalMs = 25, what = 'a condition' } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await get()
    if (check(v)) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(v)?.slice(0, 2000)}`)
    await new Promise(r => setTimeout(r, intervalMs))
  }
}
