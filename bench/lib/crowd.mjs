// A steady crowd of readers for the long-running benchmarks (soak.mjs, stalled.mjs): `slots`
// visitors, each starting an answer (POST /api/chats with its question, one request), reading its
// stream to `[DONE]`, then starting the next at once, so `slots` answers always stream. Each slot
// keeps the cookie the server gave it (one identity per slot, as people are). The upstream is
// lib/upstream.mjs in this process, so per-token delay (receipt - upstream write) is on one clock,
// and lib/client.mjs checks every token arrives, in order, by the frames' `id:` offsets.

import { makeAgent, readStream, requestJson, Samples } from './client.mjs'

const cookieOf = r => [r.headers['set-cookie'] ?? []].flat().map(c => c.split(';')[0]).join('; ')
const sleep = ms => new Promise(r => setTimeout(r, ms))

/**
 * Starts the crowd; it runs until `stop()`, which lets the answers in flight finish (up to
 * `drainMs`) and resolves with the totals.
 * @param {object} o
 * @param {{ url: string }} o.target a server from lib/targets.mjs
 * @param {Awaited<ReturnType<typeof import('./upstream.mjs').startUpstream>>} o.upstream
 * @param {number} o.slots answers streaming at once
 * @param {number} o.tokens tokens per answer
 * @param {number} o.rate tokens per second of each answer
 * @param {string} [o.prefix] tag prefix (several crowds on one upstream)
 */
export function startCrowd({ target, upstream, slots, tokens, rate, prefix = 'crowd' }) {
  const agent = makeAgent()
  const origin = target.url
  const stats = {
    started: 0,
    finished: 0,
    ok: 0,
    failed: 0,
    failedStarts: 0,
    /** reason -> count, for failed streams and failed starts */
    reasons: {},
    tokensSent: 0,
    tokensReceived: 0,
    /** tokens the upstream wrote that never reached the reader, over streams that ended */
    lost: 0,
    /** per-token delay (ms) since the last `take()`: for per-interval figures */
    window: new Samples(1 << 16),
    /** every per-token delay (ms) */
    all: new Samples(1 << 20),
  }
  const fail = (reason) => {
    stats.reasons[reason] = (stats.reasons[reason] ?? 0) + 1
  }
  const latencies = {
    push(v) {
      stats.window.push(v)
      stats.all.push(v)
    },
  }
  let stopping = false
  const controller = new AbortController()
  let serial = 0

  async function slot(i) {
    let cookie = ''
    while (!stopping) {
      const tag = `${prefix}-${i}-${serial++}`
      const plan = upstream.register(tag, { n: tokens, rate })
      upstream.go([plan])
      stats.started++
      let r
      try {
        r = await requestJson(`${target.url}/api/chats`, {
          method: 'POST', agent, body: { content: `flume-bench ${tag}` }, headers: { origin, ...(cookie ? { cookie } : {}) },
        })
      }
      catch (error) {
        r = { status: 0, body: String(error?.code ?? error?.message) }
      }
      if (r.status !== 201 || typeof r.body?.streamUrl !== 'string') {
        stats.failedStarts++
        fail(`start_${r.status}_${r.body?.data?.code ?? (r.status ? '' : r.body)}`)
        upstream.forget([plan])
        await sleep(200)
        continue
      }
      cookie ||= cookieOf(r)
      const res = await readStream({
        url: new URL(r.body.streamUrl, target.url).href, headers: { cookie }, agent, plan, latencies, signal: controller.signal,
      })
      upstream.forget([plan])
      // Cut by stop() after the drain time: the bench's own doing, not counted.
      if (res.reason === 'timeout') continue
      stats.finished++
      if (res.ok) stats.ok++
      else {
        stats.failed++
        fail(res.reason)
      }
      stats.tokensSent += plan.sent
      stats.tokensReceived += res.tokens
      stats.lost += Math.max(0, plan.sent - res.tokens)
    }
  }

  const running = Array.from({ length: slots }, (_, i) => slot(i))
  return {
    stats,
    /** Per-token delays since the last call, sorted. */
    take() {
      const s = stats.window.sorted()
      stats.window = new Samples(1 << 16)
      return s
    },
    async stop(drainMs = 60_000) {
      stopping = true
      const timer = setTimeout(() => controller.abort(), drainMs)
      await Promise.all(running)
      clearTimeout(timer)
      agent.destroy()
      return stats
    },
  }
}

/** p-th percentile (0-100) of a sorted array. */
export function pct(sorted, p) {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** The median of the values. */
export function median(values) {
  const s = [...values].sort((a, b) => a - b)
  return s.length ? s[Math.floor(s.length / 2)] : NaN
}
