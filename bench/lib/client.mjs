// Bench clients: a tiny JSON client (Flume setup calls) and an SSE reader that maps every
// received frame back to the upstream tokens it carries and records, per token, the added
// latency = performance.now() at receipt of the chunk holding the frame - the upstream's
// performance.now() when it wrote that token (same process, same clock).
//
// Tokens are TOKEN_LEN characters each, and `id:` is the offset (text length after the
// frame), so the frame covers tokens [prevOffset / TOKEN_LEN, offset / TOKEN_LEN).

import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { TOKEN_LEN, tokenText } from './upstream.mjs'

/** A client agent that never queues: one socket per concurrent request. */
export function makeAgent() {
  return new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, keepAliveMsecs: 10_000 })
}

/** Growable Float64 sample collector. */
export class Samples {
  constructor(cap = 1024) {
    this.a = new Float64Array(cap)
    this.n = 0
  }

  push(v) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2)
      b.set(this.a)
      this.a = b
    }
    this.a[this.n++] = v
  }

  sorted() { return this.a.slice(0, this.n).sort() }
}

/**
 * JSON request. Resolves { status, headers, body } (body parsed when JSON).
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: unknown, agent: http.Agent, timeoutMs?: number }} o
 */
export function requestJson(url, o) {
  return new Promise((resolve, reject) => {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body)
    const req = http.request(url, {
      method: o.method ?? 'GET',
      agent: o.agent,
      headers: {
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        ...o.headers,
      },
      timeout: o.timeoutMs ?? 30_000,
    }, (res) => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body = text
        if ((res.headers['content-type'] ?? '').includes('json')) {
          try {
            body = JSON.parse(text)
          }
          catch { /* keep text */ }
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timeout ${o.method ?? 'GET'} ${url}`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * Reads one SSE stream to `[DONE]`.
 * @param {object} o
 * @param {string} o.url
 * @param {Record<string, string>} [o.headers]
 * @param {http.Agent} o.agent
 * @param {{ sendTimes: Float64Array, n: number }} o.plan the upstream plan of this stream
 * @param {Samples} o.latencies where per-token added latencies (ms) go
 * @param {Samples} [o.sentAt] the matching upstream send times (for the latency timeline)
 * @param {() => void} [o.onOpen] called when the response headers arrived (stream open)
 * @param {AbortSignal} [o.signal] aborts the read (reported as reason 'timeout')
 */
export function readStream(o) {
  return new Promise((resolve) => {
    const r = {
      ok: false, reason: '', status: 0, tokens: 0, frames: 0, bytes: 0,
      offset: 0, openAt: NaN, firstTokenAt: NaN, doneAt: NaN, lastRecvAt: NaN, errorFrame: null,
    }
    let settled = false
    const settle = (reason) => {
      if (settled) return
      settled = true
      o.signal?.removeEventListener('abort', onAbort)
      r.reason = reason
      r.ok = reason === 'ok'
      resolve(r)
    }
    const req = http.request(o.url, {
      method: 'GET',
      agent: o.agent,
      headers: { accept: 'text/event-stream', ...o.headers },
    }, (res) => {
      r.status = res.statusCode ?? 0
      if (r.status !== 200 || !String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        res.resume()
        return settle(`http_${r.status}`)
      }
      r.openAt = performance.now()
      o.onOpen?.()
      res.setEncoding('utf8')
      let buf = ''
      const { sendTimes, n } = o.plan
      res.on('data', (chunk) => {
        const now = performance.now()
        r.lastRecvAt = now
        r.bytes += chunk.length
        buf += chunk
        let i
        while ((i = buf.indexOf('\n\n')) !== -1) {
          let frame = buf.slice(0, i)
          buf = buf.slice(i + 2)
          if (frame.includes('\r')) frame = frame.replace(/\r/g, '')
          let id = NaN
          let data = null
          for (const line of frame.split('\n')) {
            if (line.startsWith('id:')) id = Number(line.slice(3).trim())
            else if (line.startsWith('data:')) data = data === null ? line.slice(5).trimStart() : `${data}\n${line.slice(5).trimStart()}`
          }
          if (data === null) continue // comment (`: ping`) or empty
          r.frames++
          if (data === '[DONE]') {
            r.doneAt = now
            res.destroy()
            if (r.errorFrame) return settle(`error_frame:${r.errorFrame.code}`)
            if (r.offset !== n * TOKEN_LEN) return settle('short')
            return settle('ok')
          }
          let msg
          try {
            msg = JSON.parse(data)
          }
          catch {
            res.destroy()
            return settle('bad_json')
          }
          if (msg.type === 'delta') {
            const text = String(msg.text ?? '')
            const prev = r.offset
            const end = Number.isFinite(id) ? id : prev + text.length
            if (end !== prev + text.length) {
              res.destroy()
              return settle('bad_offset')
            }
            r.offset = end
            if (prev % TOKEN_LEN !== 0) {
              res.destroy()
              return settle('misaligned')
            }
            const from = prev / TOKEN_LEN
            const to = Math.floor(end / TOKEN_LEN)
            for (let t = from; t < to && t < n; t++) {
              const at = (t - from) * TOKEN_LEN
              if (text.slice(at, at + TOKEN_LEN) !== tokenText(t)) {
                res.destroy()
                return settle('corrupt')
              }
              o.latencies.push(now - sendTimes[t])
              o.sentAt?.push(sendTimes[t])
            }
            if (to > from && !(r.firstTokenAt >= 0)) r.firstTokenAt = now
            r.tokens += Math.max(0, Math.min(to, n) - from)
          }
          else if (msg.type === 'error') {
            r.errorFrame = { code: msg.code, message: msg.message }
          }
        }
      })
      res.on('end', () => settle('eof_without_done'))
      res.on('error', () => settle('reset'))
      res.on('close', () => settle('closed_without_done'))
    })
    const onAbort = () => {
      req.destroy()
      settle('timeout')
    }
    if (o.signal?.aborted) return onAbort()
    o.signal?.addEventListener('abort', onAbort, { once: true })
    req.on('error', e => settle(`conn_error:${e.code ?? e.message}`))
    req.end()
  })
}
