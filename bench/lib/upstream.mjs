// Fake OpenAI-compatible upstream for the relay benchmark (node:http, 127.0.0.1 only).
//
// POST /v1/chat/completions (stream: true) answers `chat.completion.chunk` SSE frames.
// The stream to play is chosen by a tag the bench client puts in the last user message
// (`flume-bench <tag>`); the bench registers the tag first (token count, rate) and the
// upstream records, per token index, the performance.now() at which it wrote the chunk.
// The clients run in this same process, so receipt time - send time is on one clock.
//
// Streams are held at a barrier after the headers and the role chunk until `go()` is
// called, so that every stream of a scenario is connected before tokens start to flow
// (all 1,000 stream concurrently during the measurement, setup cost is measured apart).

import http from 'node:http'
import { performance } from 'node:perf_hooks'

export const MODEL = 'bench-model'
/** Every token is TOKEN_LEN characters: 3 base-36 digits of (index mod 46656) and a space. */
export const TOKEN_LEN = 4
const TOKEN_MOD = 36 ** 3

export function tokenText(i) {
  return (i % TOKEN_MOD).toString(36).padStart(3, '0') + ' '
}

const TAG_RE = /flume-bench ([\w.-]+)/

/**
 * @param {{ log?: (s: string) => void }} [opts]
 */
export async function startUpstream(opts = {}) {
  const log = opts.log ?? (() => {})
  /** @type {Map<string, Plan>} */
  const plans = new Map()
  let created = Math.floor(Date.now() / 1000)
  const counters = { requests: 0, streamRequests: 0, untagged: 0, models: 0, aborted: 0 }
  /** Called when a registered stream's request has arrived (for the barrier). */
  let onArrive = () => {}

  const server = http.createServer((req, res) => {
    counters.requests++
    const url = req.url ?? '/'
    if (req.method === 'GET' && (url === '/v1/models' || url.startsWith('/v1/models?'))) {
      counters.models++
      return json(res, 200, { object: 'list', data: [{ id: MODEL, object: 'model', created, owned_by: 'flume-bench' }] })
    }
    if (req.method === 'POST' && url.startsWith('/v1/chat/completions')) {
      const chunks = []
      req.on('data', c => chunks.push(c))
      req.on('end', () => {
        let body
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        }
        catch {
          return json(res, 400, { error: { message: 'invalid JSON', type: 'invalid_request_error' } })
        }
        handleCompletion(body, req, res)
      })
      return
    }
    json(res, 404, { error: { message: `no route ${req.method} ${url}`, type: 'invalid_request_error' } })
  })
  server.keepAliveTimeout = 60_000
  server.headersTimeout = 0
  server.requestTimeout = 0

  function handleCompletion(body, req, res) {
    const messages = Array.isArray(body?.messages) ? body.messages : []
    const lastUser = [...messages].reverse().find(m => m?.role === 'user')
    const text = typeof lastUser?.content === 'string' ? lastUser.content : JSON.stringify(lastUser?.content ?? '')
    const tag = TAG_RE.exec(text)?.[1]
    const plan = tag ? plans.get(tag) : undefined
    const model = typeof body?.model === 'string' ? body.model : MODEL
    if (!body?.stream) {
      // Not used by the relay path; answered so that e.g. a title generator does not fail.
      counters.untagged++
      return json(res, 200, {
        id: 'chatcmpl-bench', object: 'chat.completion', created, model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'bench' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      })
    }
    counters.streamRequests++
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'connection': 'keep-alive',
    })
    const id = `chatcmpl-${tag ?? 'untagged'}`
    const head = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[`
    const frame = (choice, extra = '') => `${head}${choice}]${extra}}\n\n`
    res.write(frame('{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}'))
    if (!plan) {
      // Unknown stream (not started by the bench): a short answer right away.
      counters.untagged++
      res.write(frame('{"index":0,"delta":{"content":"bench "},"finish_reason":null}'))
      finish(res, frame, 1)
      return
    }
    if (plan.res) {
      // The relay asked twice for the same stream (a retry?): count it, serve it again.
      plan.duplicates++
    }
    plan.res = res
    plan.sent = 0
    plan.arrivedAt = performance.now()
    res.on('close', () => {
      if (plan.sent < plan.n || !plan.finished) {
        plan.aborted = true
        counters.aborted++
      }
      plan.closed = true
    })
    plan.frame = frame
    onArrive(plan)
    if (plan.go) start(plan)
  }

  function finish(res, frame, n) {
    res.write(frame('{"index":0,"delta":{},"finish_reason":"stop"}'))
    res.write(frame('', `,"usage":{"prompt_tokens":8,"completion_tokens":${n},"total_tokens":${n + 8}}`))
    res.end('data: [DONE]\n\n')
  }

  function writeToken(plan, i) {
    plan.sendTimes[i] = performance.now()
    return plan.res.write(plan.frame(`{"index":0,"delta":{"content":"${tokenText(i)}"},"finish_reason":null}`))
  }

  function start(plan) {
    if (plan.started || !plan.res) return
    plan.started = true
    plan.startedAt = performance.now()
    if (plan.rate > 0) paced(plan)
    else burst(plan)
  }

  // Paced stream: token i is due at t0 + phase + i * period (absolute schedule, no drift).
  function paced(plan) {
    const period = 1000 / plan.rate
    const t0 = performance.now() + plan.phase * period
    const step = () => {
      if (plan.closed) return
      const now = performance.now()
      while (plan.sent < plan.n && t0 + plan.sent * period <= now + 0.5) {
        writeToken(plan, plan.sent++)
      }
      if (plan.sent >= plan.n) {
        plan.finished = true
        finish(plan.res, plan.frame, plan.n)
        return
      }
      plan.timer = setTimeout(step, Math.max(0, t0 + plan.sent * period - performance.now()))
    }
    plan.timer = setTimeout(step, Math.max(0, t0 - performance.now()))
  }

  // As fast as the socket takes it: one write per chunk, wait for 'drain' on backpressure,
  // yield to the event loop every few chunks so the in-process clients can read.
  // Writes of one batch are corked into one syscall; a relay slower than this reads many
  // frames per read anyway (the socket buffer fills), as it would from a fast real server.
  function burst(plan) {
    const res = plan.res
    const step = () => {
      if (plan.closed) return
      let k = 0
      let ok = true
      res.cork()
      while (plan.sent < plan.n && ok && k++ < plan.burst) ok = writeToken(plan, plan.sent++)
      res.uncork() // before end(): end() on a corked response loses the corked writes
      if (plan.sent >= plan.n) {
        plan.finished = true
        finish(res, plan.frame, plan.n)
        return
      }
      if (!ok) res.once('drain', step)
      else setImmediate(step)
    }
    step()
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address())
  log(`fake upstream on http://127.0.0.1:${port}/v1`)

  return {
    url: `http://127.0.0.1:${port}/v1`,
    counters,
    /**
     * Registers a stream. rate = tokens/s (0 = as fast as possible).
     * @returns {Plan}
     */
    register(tag, { n, rate, burst = 64 }) {
      /** @type {Plan} */
      const plan = {
        tag, n, rate, burst, phase: Math.random(), sendTimes: new Float64Array(n).fill(NaN),
        sent: 0, res: null, frame: null, go: false, started: false, finished: false,
        closed: false, aborted: false, duplicates: 0, arrivedAt: NaN, startedAt: NaN, timer: null,
      }
      plans.set(tag, plan)
      return plan
    },
    /** Releases the barrier for these plans (those not arrived yet start on arrival). */
    go(list) {
      for (const plan of list) {
        plan.go = true
        start(plan)
      }
    },
    onArrive(fn) { onArrive = fn },
    forget(list) {
      for (const plan of list) {
        clearTimeout(plan.timer)
        plans.delete(plan.tag)
      }
    },
    async close() {
      for (const plan of plans.values()) clearTimeout(plan.timer)
      server.closeAllConnections()
      await new Promise(r => server.close(() => r()))
    },
  }
}

function json(res, status, body) {
  const s = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) })
  res.end(s)
}

/**
 * @typedef {object} Plan
 * @property {string} tag
 * @property {number} n
 * @property {number} rate
 * @property {number} burst
 * @property {number} phase
 * @property {Float64Array} sendTimes
 * @property {number} sent
 * @property {import('node:http').ServerResponse | null} res
 * @property {((choice: string, extra?: string) => string) | null} frame
 * @property {boolean} go
 * @property {boolean} started
 * @property {boolean} finished
 * @property {boolean} closed
 * @property {boolean} aborted
 * @property {number} duplicates
 * @property {number} arrivedAt
 * @property {number} startedAt
 * @property {any} timer
 */
