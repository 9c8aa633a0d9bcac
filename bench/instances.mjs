#!/usr/bin/env node
// Several instances (issue 7, item 2; docs/instances.md): what following an answer through Redis
// costs, and how long a dead instance's answer takes to end. Not a test: run on demand and read
// the figures. Needs a Redis (REDIS_URL, or FLUME_TEST_REDIS_URL as `eval "$(bash .ci/services.sh)"`
// exports it) and a production build (.output, or FLUME_OUTPUT_DIR).
//
//   upstream (this process) --SSE--> A (writes the answer) --SSE--> reader on A (this process)
//                                     └── Redis stream ──> B ──SSE──> reader on B (this process)
//
// 1. Relay: answers posted on A, each read at once on A and on B. For every token, its receipt on
//    B minus its receipt on A (same clock, this process): the latency Redis adds. p50/p99/max.
// 2. Crash: an answer written by a third instance C and read on B; C is killed (SIGKILL) mid-answer.
//    Reported: kill -> B receives the `interrupted` error frame, each time and the worst.
// The instances share one SQLite file (or DATABASE_URL when set) and a fresh key prefix.
//
// Usage: node bench/instances.mjs [--answers 40] [--tokens 50] [--gap-ms 20] [--concurrency 4]
//                                 [--kills 3] [--lease-ms 5000]

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { freePort } from './lib/net.mjs'
import { serverFlags } from './lib/targets.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: argv } = parseArgs({
  options: {
    'answers': { type: 'string', default: '40' },
    'tokens': { type: 'string', default: '50' },
    'gap-ms': { type: 'string', default: '20' },
    'concurrency': { type: 'string', default: '4' },
    'kills': { type: 'string', default: '3' },
    'lease-ms': { type: 'string', default: '5000' },
    'help': { type: 'boolean', default: false },
  },
})
if (argv.help) {
  console.log('node bench/instances.mjs [--answers N] [--tokens N] [--gap-ms MS] [--concurrency N] [--kills N] [--lease-ms MS]')
  process.exit(0)
}
const ANSWERS = Number(argv.answers)
const TOKENS = Number(argv.tokens)
const GAP_MS = Number(argv['gap-ms'])
const CONCURRENCY = Number(argv.concurrency)
const KILLS = Number(argv.kills)
const LEASE_MS = Number(argv['lease-ms'])
const redisUrl = process.env.REDIS_URL || process.env.FLUME_TEST_REDIS_URL
if (!redisUrl) {
  console.error('bench/instances: set REDIS_URL (or run `eval "$(bash .ci/services.sh)"`)')
  process.exit(2)
}
const serverEntry = resolve(root, process.env.FLUME_OUTPUT_DIR || '.output', 'server/index.mjs')
const prefix = `flume-bench:${randomBytes(4).toString('hex')}:`
const dataDir = mkdtempSync(join(tmpdir(), 'flume-bench-instances-'))
const children = new Set()

function cleanup() {
  for (const child of children) child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

// --- upstream: TOKENS tokens of `t<i> `, GAP_MS apart, after a short wait for the readers --------

const upstream = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(JSON.stringify({ object: 'list', data: [{ id: 'bench-model', object: 'model', created: 0, owned_by: 'bench' }] }))
  }
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    const chunk = delta => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'bench-model', choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`
    res.write(chunk({ role: 'assistant', content: '' }))
    let i = 0
    const next = () => {
      if (res.destroyed) return
      if (i === TOKENS) {
        res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'bench-model', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`)
        return res.end('data: [DONE]\n\n')
      }
      res.write(chunk({ content: `t${i++} ` }))
      setTimeout(next, GAP_MS)
    }
    setTimeout(next, 300)
  })
})
await new Promise(r => upstream.listen(0, '127.0.0.1', r))
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}/v1`

// --- instances ----------------------------------------------------------------------------------

async function boot(name) {
  const port = await freePort()
  const child = spawn(process.execPath, [...serverFlags, serverEntry], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      FLUME_DATA_DIR: dataDir,
      OPENAI_BASE_URL: upstreamUrl,
      OPENAI_API_KEY: 'bench',
      FLUME_MODEL: 'bench-model',
      FLUME_UPSTREAM_MAX_RETRIES: '0',
      FLUME_TITLES: 'off',
      FLUME_RATE_LIMITS: 'off',
      REDIS_URL: redisUrl,
      FLUME_REDIS_PREFIX: prefix,
      FLUME_LEASE_MS: String(LEASE_MS),
      FLUME_SESSION_SECRET: 'bench-instances-secret-0123456789abcdef',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let logs = ''
  child.stdout.on('data', d => (logs += d))
  child.stderr.on('data', d => (logs += d))
  const exited = new Promise(r => child.once('exit', () => {
    children.delete(child)
    r()
  }))
  const url = `http://127.0.0.1:${port}`
  for (const deadline = Date.now() + 30_000; ;) {
    if (child.exitCode !== null) throw new Error(`${name} exited early:\n${logs}`)
    if (await fetch(`${url}/api/health`).then(r => r.ok, () => false)) break
    if (Date.now() > deadline) throw new Error(`${name} did not start:\n${logs}`)
    await new Promise(r => setTimeout(r, 100))
  }
  return { name, url, logs: () => logs, kill: async () => {
    child.kill('SIGKILL')
    await exited
  } }
}

async function post(server, cookie, content) {
  const res = await fetch(`${server.url}/api/chats`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify({ content }),
  })
  if (res.status !== 201) throw new Error(`POST /api/chats on ${server.name}: ${res.status} ${await res.text()}`)
  const setCookie = res.headers.getSetCookie()[0]
  return { ...(await res.json()), cookie: cookie ?? setCookie.split(';')[0] }
}

/** Reads a stream; `onFrame(offset, data, now)` per data frame. Resolves at [DONE] or the end. */
function read(server, path, cookie, onFrame) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.url}${path}`, { headers: { accept: 'text/event-stream', cookie } }, (res) => {
      if (res.statusCode !== 200) onFrame(Number.NaN, `HTTP ${res.statusCode}`, performance.now())
      res.setEncoding('utf8')
      let buf = ''
      res.on('data', (chunk) => {
        const now = performance.now()
        buf += chunk
        let i
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const id = /^id: (\d+)$/m.exec(frame)?.[1]
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          if (data === undefined) continue
          onFrame(Number(id), data, now)
          if (data === '[DONE]') {
            res.destroy()
            return resolve()
          }
        }
      })
      res.on('end', resolve)
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

const fmt = ms => `${ms.toFixed(2)} ms`

const [a, b] = await Promise.all([boot('A'), boot('B')])
console.log(`bench/instances: A ${a.url}, B ${b.url}, Redis ${redisUrl} (${prefix}), ${process.env.DATABASE_URL ? 'PostgreSQL' : 'one SQLite file'}, FLUME_LEASE_MS=${LEASE_MS}`)

// --- 1. relay latency ---------------------------------------------------------------------------

const added = []
let cookie
let mismatches = 0
async function oneAnswer(n) {
  const started = await post(a, cookie, `answer ${n}`)
  cookie ??= started.cookie
  /** Receipt time of each offset, per reader. */
  const seen = [new Map(), new Map()]
  const texts = ['', '']
  const frames1 = []
  const record = side => (offset, data, now) => {
    if (data.startsWith('HTTP')) return console.log(side ? 'B' : 'A', data)
    if (side === 1) frames1.push(`${offset}:${data.slice(0, 40)}`)
    if (data === '[DONE]') return
    const event = JSON.parse(data)
    if (event.type !== 'delta') return
    texts[side] += event.text
    seen[side].set(offset, now)
  }
  await Promise.all([
    read(a, started.streamUrl, started.cookie, record(0)),
    read(b, started.streamUrl, started.cookie, record(1)),
  ])
  if (texts[0] !== texts[1]) {
    mismatches++
    if (process.env.BENCH_DEBUG) console.log('differs', n, texts[0].length, texts[1].length, [...seen[1].keys()].join(','), frames1.join(' | '))
  }
  // Token k ends at offset end(k); a reader has it at the first frame whose offset reaches it.
  const ends = []
  for (let k = 0, end = 0; k < TOKENS; k++) ends.push((end += `t${k} `.length))
  const at = (side, end) => {
    let best = Infinity
    for (const [offset, time] of seen[side]) if (offset >= end && time < best) best = time
    return best
  }
  // The first tokens may come in the catch-up of a reader that opened late: not relay latency.
  for (const end of ends.slice(3)) added.push(at(1, end) - at(0, end))
}

const queue = Array.from({ length: ANSWERS }, (_, i) => i)
const first = queue.shift()
await oneAnswer(first)
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (queue.length) await oneAnswer(queue.shift())
}))
added.sort((x, y) => x - y)
console.log(`\n1. A token posted on A, read on B vs read on A (${added.length} tokens, ${ANSWERS} answers x ${TOKENS} tokens ${GAP_MS} ms apart, ${CONCURRENCY} at a time)`)
console.log(`   added latency p50 ${fmt(percentile(added, 0.5))}, p99 ${fmt(percentile(added, 0.99))}, max ${fmt(added.at(-1))}; text differed in ${mismatches} answer(s)`)

// --- 2. kill -9 of the writing instance ----------------------------------------------------------

const times = []
for (let i = 0; i < KILLS; i++) {
  const c = await boot('C')
  const started = await post(c, cookie, `crash ${i}`)
  let killedAt = 0
  let endedAt = 0
  let code = ''
  let killing
  await read(b, started.streamUrl, started.cookie, (offset, data, now) => {
    if (!killedAt && data !== '[DONE]' && offset >= 20) {
      killedAt = performance.now()
      killing = c.kill()
    }
    if (data.startsWith('{"type":"error"')) {
      endedAt = now
      code = JSON.parse(data).code
    }
  })
  await killing
  times.push(endedAt - killedAt)
  console.log(`${i ? '' : `\n2. kill -9 of the writing instance (FLUME_LEASE_MS=${LEASE_MS}): kill -> interrupted frame on B\n`}   ${code || 'no error frame'} after ${fmt(endedAt - killedAt)}`)
}
if (times.length) {
  console.log(`   mean ${fmt(times.reduce((s, t) => s + t, 0) / times.length)}, worst ${fmt(Math.max(...times))} (bound: lease + half a lease for the check)`)
}

if (process.env.BENCH_DEBUG) console.log(a.logs(), b.logs())
await Promise.all([a.kill(), b.kill()])
upstream.close()
// Leave nothing in Redis: what is left expires, but a bench should not wait for that.
const { default: Redis } = await import('ioredis')
const redis = new Redis(redisUrl)
const keys = await redis.keys(`${prefix}*`)
if (keys.length) await redis.del(...keys)
await redis.quit()
process.exit(0)
