/**
 * A fake OpenAI-compatible server for tests: `POST /v1/chat/completions` (streaming in
 * OpenAI's chunk format, or a plain completion) and `GET /v1/models`, on 127.0.0.1 with a
 * random port. Each completion request plays a scenario: the next queued one that matches
 * the request, else the default. It records every request and notices when the client
 * aborts one (so a test can prove that Stop really reaches the upstream).
 *
 *   const fake = await startFakeOpenAI()
 *   fake.enqueue({ chunks: ['Hel', 'lo'], delayMs: 5 })
 *   ... OPENAI_BASE_URL = fake.url ...
 *   await fake.close()
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface FakeUsage {
  prompt_tokens: number
  completion_tokens: number
  completion_tokens_details?: { reasoning_tokens?: number }
}

/** A chunk's whole `delta`, for what is not answer text (`{ reasoning_content: '...' }`, `{ reasoning: '...' }`). */
export type FakeDelta = Record<string, unknown>

export interface Scenario {
  /**
   * Text pieces sent as `delta.content`, one chunk each, or a chunk's whole delta (reasoning
   * fields). Default: the default scenario's.
   */
  chunks?: (string | FakeDelta)[]
  /** Delay before each chunk after the first one (ms). */
  delayMs?: number
  /** Delay before anything, headers included (ms). */
  initialDelayMs?: number
  /** Answer this HTTP status with an OpenAI-style JSON error body instead of a stream. */
  status?: number
  /** The error message in that body. */
  errorMessage?: string
  /** Destroy the socket after sending this many chunks (a connection dropped mid-answer). */
  dropAfter?: number
  /** Send the headers, then nothing ever again (until the client gives up). */
  hang?: boolean
  /** Send this many chunks, then nothing ever again. */
  hangAfter?: number
  /** After `pauseAfter` chunks, wait for `until` before going on (see `createGate`). */
  pauseAfter?: number
  until?: Promise<unknown>
  /** Usage reported when the request asks for it (`stream_options.include_usage`). */
  usage?: FakeUsage
  /** Never send a usage chunk, even when asked (servers that ignore `stream_options`). */
  noUsage?: boolean
  /** End the body after the last chunk without `data: [DONE]` (some servers just close). */
  omitDone?: boolean
  /** After this many chunks, send an in-stream error event (`data: {"error":{...}}`) and end. */
  errorAfter?: number
  /** `finish_reason` of the last chunk. Default `stop`. */
  finishReason?: string
  /** Write each SSE event in small pieces, splitting multi-byte characters across writes. */
  fragment?: boolean
  /** Use this scenario only for a request it matches (e.g. by the last user message). */
  match?: (req: RecordedRequest) => boolean
}

export type RequestOutcome = 'completed' | 'aborted' | 'dropped'

export interface RecordedRequest {
  /** Order of arrival among all requests. */
  index: number
  method: string
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string
  headers: IncomingHttpHeaders
  /** Parsed JSON body (undefined when there was none or it was not JSON). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever the client sent
  body: any
  rawBody: string
  receivedAt: number
  /** Resolves when the exchange is over: `aborted` when the client went away first. */
  outcome: Promise<RequestOutcome>
  /** Set once `outcome` settles. */
  result?: RequestOutcome
  /** How many content chunks had been written when it ended. */
  chunksSent: number
}

export interface FakeOpenAI {
  /** Base URL including `/v1`, as OPENAI_BASE_URL wants it. */
  url: string
  port: number
  /** Every request, in order of arrival. */
  requests: RecordedRequest[]
  /** Only the `POST /v1/chat/completions` requests. */
  readonly completions: RecordedRequest[]
  /** How many requests the client aborted before the fake finished them. */
  readonly aborted: number
  /** Models listed by `GET /v1/models`. */
  models: string[]
  /** Scenario used when no queued one matches. */
  defaultScenario: Scenario
  /** Queue scenarios for the next completion requests (each is used once). */
  enqueue: (...scenarios: Scenario[]) => void
  /** Drop queued scenarios (not the default). */
  clearQueue: () => void
  /** Resolves with completion request number `index` (0-based) once it has arrived. */
  waitForCompletion: (index: number, timeoutMs?: number) => Promise<RecordedRequest>
  /** Resolves once at least `count` requests were aborted by the client. */
  waitForAborted: (count: number, timeoutMs?: number) => Promise<void>
  close: () => Promise<void>
}

export interface Gate {
  promise: Promise<void>
  open: () => void
}

/** A promise to hold a scenario at `pauseAfter` until the test calls `open()`. */
export function createGate(): Gate {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

const DEFAULT_SCENARIO: Scenario = { chunks: ['Hello', ', ', 'world', '!'], delayMs: 2 }

const ERROR_TYPES: Record<number, { type: string, code: string | null, message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Bad request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Forbidden.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests.' },
  500: { type: 'server_error', code: null, message: 'The server had an error while processing your request.' },
  503: { type: 'server_error', code: null, message: 'The engine is currently overloaded.' },
}

const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms))

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`fake-openai: timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

export async function startFakeOpenAI(options: { models?: string[], defaultScenario?: Scenario } = {}): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = []
  const queue: Scenario[] = []
  const sockets = new Set<Socket>()
  let abortedCount = 0
  let created = Math.floor(Date.now() / 1000)

  const fake: FakeOpenAI = {
    url: '',
    port: 0,
    requests,
    get completions() {
      return requests.filter(r => r.method === 'POST' && r.path === '/v1/chat/completions')
    },
    get aborted() {
      return abortedCount
    },
    models: options.models ?? ['gpt-fake', 'gpt-fake-mini'],
    defaultScenario: options.defaultScenario ?? DEFAULT_SCENARIO,
    enqueue: (...scenarios) => { queue.push(...scenarios) },
    clearQueue: () => { queue.length = 0 },
    async waitForCompletion(index, timeoutMs = 10_000) {
      await waitUntil(() => fake.completions.length > index, timeoutMs, `completion request #${index}`)
      return fake.completions[index]!
    },
    async waitForAborted(count, timeoutMs = 10_000) {
      await waitUntil(() => abortedCount >= count, timeoutMs, `${count} aborted request(s) (saw ${abortedCount})`)
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
        server.closeAllConnections()
      })
    },
  }

  function takeScenario(req: RecordedRequest): Scenario {
    const i = queue.findIndex(s => !s.match || s.match(req))
    if (i === -1) return fake.defaultScenario
    return queue.splice(i, 1)[0]!
  }

  async function handle(res: ServerResponse, rec: RecordedRequest, ended: () => boolean, drop: () => void) {
    const { method, path } = rec
    if (method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, { object: 'list', data: fake.models.map(id => ({ id, object: 'model', created, owned_by: 'fake' })) })
      return
    }
    if (method !== 'POST' || path !== '/v1/chat/completions') {
      sendJson(res, 404, { error: { message: `Unknown route ${method} ${path}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } })
      return
    }
    const scenario = { ...takeScenario(rec) }
    const body = rec.body ?? {}
    const chunks = scenario.chunks ?? fake.defaultScenario.chunks ?? []
    if (scenario.initialDelayMs) await sleep(scenario.initialDelayMs)
    if (ended()) return

    if (scenario.status && scenario.status >= 400) {
      const known = ERROR_TYPES[scenario.status] ?? { type: 'api_error', code: null, message: `Error ${scenario.status}.` }
      sendJson(res, scenario.status, {
        error: { message: scenario.errorMessage ?? known.message, type: known.type, param: null, code: known.code },
      })
      return
    }

    const id = `chatcmpl-fake${rec.index}`
    const model = typeof body.model === 'string' ? body.model : fake.models[0]
    created += 1

    if (!body.stream) {
      const content = chunks.filter(c => typeof c === 'string').join('')
      sendJson(res, 200, {
        id, object: 'chat.completion', created, model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: scenario.finishReason ?? 'stop', logprobs: null }],
        usage: usageOf(scenario, chunks),
      })
      return
    }

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'connection': 'keep-alive',
    })
    res.flushHeaders()

    const chunk = (delta: object, finishReason: string | null) => ({
      id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    })
    const write = async (payload: object | string) => {
      const text = `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`
      if (!scenario.fragment) {
        // Wait until it is handed to the socket, so that a drop that follows does not eat it.
        await new Promise<void>(resolve => res.write(text, () => resolve()))
        return
      }
      // Split the bytes in small pieces so that multi-byte characters straddle writes.
      const bytes = Buffer.from(text, 'utf8')
      for (let i = 0; i < bytes.length; i += 3) {
        if (ended()) return
        res.write(bytes.subarray(i, i + 3))
        await sleep(0)
      }
    }

    if (scenario.hang || scenario.hangAfter === 0) return // headers only, then silence

    await write(chunk({ role: 'assistant', content: '' }, null))
    for (let i = 0; i < chunks.length; i++) {
      if (i > 0 && scenario.delayMs) await sleep(scenario.delayMs)
      if (scenario.pauseAfter === i && scenario.until) await scenario.until
      if (ended()) return
      if (scenario.dropAfter === i) {
        drop()
        return
      }
      if (scenario.hangAfter === i) return
      if (scenario.errorAfter === i) {
        await write({ error: { message: scenario.errorMessage ?? 'The server is overloaded.', type: 'server_error', param: null, code: null } })
        res.end()
        return
      }
      const piece = chunks[i]!
      await write(chunk(typeof piece === 'string' ? { content: piece } : piece, null))
      rec.chunksSent = i + 1
    }
    if (scenario.delayMs) await sleep(scenario.delayMs)
    if (scenario.pauseAfter === chunks.length && scenario.until) await scenario.until
    if (ended()) return
    if (scenario.dropAfter !== undefined && scenario.dropAfter >= chunks.length) {
      drop()
      return
    }
    if (scenario.hangAfter !== undefined && scenario.hangAfter >= chunks.length) return
    await write(chunk({}, scenario.finishReason ?? 'stop'))
    if (body.stream_options?.include_usage && !scenario.noUsage) {
      await write({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices: [], usage: usageOf(scenario, chunks) })
    }
    if (!scenario.omitDone) await write('[DONE]')
    res.end()
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake')
    let settle!: (o: RequestOutcome) => void
    const rec: RecordedRequest = {
      index: -1,
      method: req.method ?? 'GET',
      path: url.pathname,
      headers: req.headers,
      body: undefined,
      rawBody: '',
      receivedAt: Date.now(),
      outcome: new Promise<RequestOutcome>((resolve) => { settle = resolve }),
      chunksSent: 0,
    }
    let done = false
    let dropped = false
    const finish = (o: RequestOutcome) => {
      if (done) return
      done = true
      rec.result = o
      if (o === 'aborted') abortedCount++
      settle(o)
    }
    res.on('finish', () => finish('completed'))
    res.on('close', () => {
      // Closed before we finished writing: the client went away (or we dropped it).
      if (!res.writableFinished) finish(dropped ? 'dropped' : 'aborted')
      else finish('completed')
    })
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => {
      rec.rawBody = Buffer.concat(parts).toString('utf8')
      try {
        rec.body = rec.rawBody ? JSON.parse(rec.rawBody) : undefined
      }
      catch { /* keep rawBody */ }
      rec.index = requests.length
      requests.push(rec)
      const drop = () => {
        dropped = true
        // Let what was written reach the client first, then cut the connection.
        setTimeout(() => res.socket?.destroy(), 20)
      }
      handle(res, rec, () => done || res.destroyed, drop).catch((err) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(err), type: 'server_error', param: null, code: null } })
        else res.destroy()
      })
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.keepAliveTimeout = 5_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  fake.port = port
  fake.url = `http://127.0.0.1:${port}/v1`
  return fake
}

function usageOf(scenario: Scenario, chunks: unknown[]) {
  const u = scenario.usage ?? { prompt_tokens: 7, completion_tokens: chunks.length }
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    ...(u.completion_tokens_details ? { completion_tokens_details: u.completion_tokens_details } : {}),
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
