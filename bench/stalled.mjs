// Stalled readers: TCP clients that ask for a long answer's stream and never read a byte. Two
// runs on fresh servers (production build, FLUME_RATE_LIMITS=off), the same load in both: a crowd
// of `--readers` normal readers streaming all along (bench/lib/crowd.mjs), and `--long` long
// answers (`--long-mb` each, over `--long-s`) started after `--warmup-s`. In the second run each
// long answer also gets `--stalled-per` stalled readers. Reported: the server's RSS over time in
// both runs, the normal readers' per-token delay in both (from the long answers' start to the
// end), whether the stalled readers were dropped (the server's write timeout) and how much of
// their answer they had been sent, with PASS/FAIL lines. It stops by itself.
//
//   npx node bench/stalled.mjs                       # 100 readers, 2 long answers x 25 stalled readers
//   npx node bench/stalled.mjs --output .output-c    # another build (also FLUME_OUTPUT_DIR)
//   npx node bench/stalled.mjs --help

import http from 'node:http'
import { connect } from 'node:net'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { makeAgent, requestJson } from './lib/client.mjs'
import { pct, startCrowd } from './lib/crowd.mjs'
import { memory, openFileLimit } from './lib/proc.mjs'
import { killTargets, startFlume } from './lib/targets.mjs'
import { MODEL, startUpstream } from './lib/upstream.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    'readers': { type: 'string', default: '100' },
    'tokens': { type: 'string', default: '100' },
    'rate': { type: 'string', default: '10' },
    'long': { type: 'string', default: '2' },
    'stalled-per': { type: 'string', default: '25' },
    'long-mb': { type: 'string', default: '16' },
    'long-s': { type: 'string', default: '30' },
    'warmup-s': { type: 'string', default: '15' },
    'seconds': { type: 'string', default: '120' },
    'write-timeout-ms': { type: 'string', default: '' },
    'max-rss-ratio': { type: 'string', default: '1.25' },
    'max-delay-ratio': { type: 'string', default: '2' },
    'output': { type: 'string', default: process.env.FLUME_OUTPUT_DIR || '.output' },
    'help': { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npx node bench/stalled.mjs [--readers 100] [--long 10] [--stalled-per 5] [--long-mb 8] [--long-s 20]
       [--warmup-s 15] [--seconds 90] [--write-timeout-ms <server default>] [--output .output]
  --readers            normal readers streaming all along (--tokens at --rate each, a new answer as each ends)
  --long/--long-mb     long answers and the size of each (64 KB chunks, spread over --long-s)
  --stalled-per        stalled readers per long answer in the second run
  --max-rss-ratio      PASS if peak RSS with stalled readers <= this x peak RSS without
  --max-delay-ratio    PASS if the normal readers' p99 token delay with stalled readers <= this x without`)
  process.exit(0)
}
const num = (k, min = 0) => Math.max(min, Number(args[k]) || 0)
const READERS = num('readers', 1)
const TOKENS = num('tokens', 1)
const RATE = num('rate', 0.1)
const LONG = num('long', 1)
const STALLED_PER = num('stalled-per', 1)
const LONG_BYTES = num('long-mb', 0.1) * 1024 * 1024
const LONG_MS = num('long-s', 1) * 1000
const WARMUP_MS = num('warmup-s', 1) * 1000
const RUN_MS = Math.max(num('seconds', 10) * 1000, WARMUP_MS + LONG_MS + 5000)
const MAX_RSS_RATIO = Number(args['max-rss-ratio']) || 1.25
const MAX_DELAY_RATIO = Number(args['max-delay-ratio']) || 2
const CHUNK = 64 * 1024
const CHUNKS = Math.max(1, Math.round(LONG_BYTES / CHUNK))
const outputDir = resolve(root, args.output)
if (!existsSync(join(outputDir, 'server/index.mjs'))) {
  console.error(`No build at ${outputDir}: run \`npm run build\` first (or give --output / FLUME_OUTPUT_DIR).`)
  process.exit(1)
}
if (openFileLimit().soft < 4 * (READERS + LONG * STALLED_PER) + 256) {
  console.error(`ulimit -n is too low for ${READERS + LONG * STALLED_PER} readers.`)
  process.exit(1)
}
process.on('exit', () => killTargets())
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

const sleep = ms => new Promise(r => setTimeout(r, ms))
const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-')
const cookieOf = r => [r.headers['set-cookie'] ?? []].flat().map(c => c.split(';')[0]).join('; ')

/**
 * The crowd's upstream (lib/upstream.mjs) behind a front that serves the long answers itself:
 * a completion whose question has `flume-bench-long` gets CHUNKS chunks of 64 KB over LONG_MS;
 * anything else is passed through. Both runs go through the front alike.
 */
async function startFront(upstream) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
  const created = Math.floor(Date.now() / 1000)
  const text = 'x'.repeat(CHUNK)
  const chunk = content => `data: ${JSON.stringify({ id: 'chatcmpl-long', object: 'chat.completion.chunk', created, model: MODEL, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`
  const front = http.createServer((req, res) => {
    const parts = []
    req.on('data', c => parts.push(c))
    req.on('end', () => {
      const body = Buffer.concat(parts)
      if (req.method === 'POST' && body.includes('flume-bench-long')) return long(res)
      const to = http.request(new URL(req.url, upstream.url), { method: req.method, headers: req.headers, agent }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      })
      to.on('error', () => res.destroy())
      res.on('close', () => to.destroy())
      to.end(body)
    })
  })
  function long(res) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.write(chunk(''))
    const start = performance.now()
    let sent = 0
    let closed = false
    res.on('close', () => (closed = true))
    const step = () => {
      if (closed) return
      const due = Math.min(CHUNKS, Math.floor(((performance.now() - start) / LONG_MS) * CHUNKS) + 1)
      while (sent < due) {
        res.write(chunk(text))
        sent++
      }
      if (sent >= CHUNKS) {
        res.write(`data: ${JSON.stringify({ id: 'chatcmpl-long', object: 'chat.completion.chunk', created, model: MODEL, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`)
        res.end('data: [DONE]\n\n')
        return
      }
      setTimeout(step, LONG_MS / CHUNKS)
    }
    step()
  }
  await new Promise(r => front.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${front.address().port}/v1`,
    async close() {
      front.closeAllConnections()
      agent.destroy()
      await new Promise(r => front.close(r))
    },
  }
}

/** A client that sends the stream request and never reads; `finish()` then reads what was left for it. */
function stalledReader(port, path, cookie) {
  const socket = connect(port, '127.0.0.1')
  socket.pause()
  socket.on('error', () => {})
  socket.once('connect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nCookie: ${cookie}\r\n\r\n`)
  })
  return {
    /** Reads what the kernel held for it, until the server's close (or `waitMs`). */
    finish(waitMs) {
      return new Promise((resolveEnd) => {
        let bytes = 0
        let tail = ''
        const done = (closedByServer) => {
          clearTimeout(timer)
          socket.destroy()
          resolveEnd({ bytes, closedByServer, gotDone: tail.includes('data: [DONE]') })
        }
        const timer = setTimeout(() => done(false), waitMs)
        socket.on('data', (d) => {
          bytes += d.length
          tail = (tail + d.toString('latin1')).slice(-64)
        })
        socket.once('end', () => done(true))
        socket.once('close', () => done(true))
        socket.resume()
      })
    },
  }
}

async function run(withStalled) {
  const upstream = await startUpstream()
  const front = await startFront(upstream)
  const env = { FLUME_RATE_LIMITS: 'off', ...(args['write-timeout-ms'] ? { FLUME_WRITE_TIMEOUT_MS: args['write-timeout-ms'] } : {}) }
  const flume = await startFlume({ outputDir, upstreamUrl: front.url, env })
  const { port } = new URL(flume.url)
  try {
    return await load(flume, upstream, withStalled, Number(port))
  }
  catch (error) {
    console.error(`Server logs (tail):\n${flume.logs.get().slice(-3000)}`)
    throw error
  }
  finally {
    await flume.stop()
    await front.close()
    await upstream.close()
  }
}

async function load(flume, upstream, withStalled, port) {
  const rss = []
  const t0 = performance.now()
  const sampler = setInterval(() => {
    const m = memory(flume.pid)
    if (m) rss.push([performance.now() - t0, m.rssMB])
  }, 500)
  const crowd = startCrowd({ target: flume, upstream, slots: READERS, tokens: TOKENS, rate: RATE, prefix: withStalled ? 'with' : 'without' })
  await sleep(WARMUP_MS)
  crowd.take()

  const agent = makeAgent()
  const stalled = []
  const longs = await Promise.all(Array.from({ length: LONG }, async (_, i) => {
    const r = await requestJson(`${flume.url}/api/chats`, { method: 'POST', agent, body: { content: `flume-bench-long ${i}` }, headers: { origin: flume.url } })
    if (r.status !== 201) throw new Error(`long answer ${i}: ${r.status} ${JSON.stringify(r.body)}`)
    if (withStalled) {
      for (let k = 0; k < STALLED_PER; k++) stalled.push(stalledReader(port, r.body.streamUrl, cookieOf(r)))
    }
    return { chatId: r.body.id, answerId: r.body.messages[1].id, cookie: cookieOf(r) }
  }))

  await sleep(RUN_MS - WARMUP_MS)
  if (flume.child.exitCode !== null || flume.child.signalCode !== null) throw new Error(`Flume exited (${flume.child.exitCode ?? flume.child.signalCode})`)
  clearInterval(sampler)
  const delays = crowd.take()
  const stats = await crowd.stop()
  // What became of the long answers (all should be done) and of the stalled readers.
  const finals = await Promise.all(longs.map(async (l) => {
    const r = await requestJson(`${flume.url}/api/chats/${l.chatId}`, { agent, headers: { cookie: l.cookie } })
    const m = r.body?.messages?.find(x => x.id === l.answerId)
    return { status: m?.status, length: m?.content?.length }
  }))
  const fates = await Promise.all(stalled.map(s => s.finish(5000)))
  agent.destroy()
  return { rss, delays, stats, finals, fates }
}

console.log(`Flume ${outputDir}; ${READERS} normal readers (${TOKENS} tokens at ${RATE}/s each, one after another);`
  + ` after ${WARMUP_MS / 1000} s, ${LONG} long answers of ${fmt(LONG_BYTES / 1048576, 1)} MB over ${LONG_MS / 1000} s; ${RUN_MS / 1000} s per run;`
  + ` the second run adds ${STALLED_PER} stalled readers to each long answer (${LONG * STALLED_PER} in all)\n`)
const without = await run(false)
const withS = await run(true)

const at = (rss, s) => rss.filter(([t]) => t <= s * 1000).at(-1)?.[1]
console.log('RSS over time (MB):\n     s   without  with stalled readers')
for (let s = 5; s <= RUN_MS / 1000; s += 5) console.log(`  ${String(s).padStart(4)}  ${fmt(at(without.rss, s)).padStart(8)}  ${fmt(at(withS.rss, s)).padStart(8)}`)
const peak = rss => Math.max(...rss.filter(([t]) => t >= WARMUP_MS).map(([, mb]) => mb))
const end = rss => rss.at(-1)?.[1]
const line = (name, r) => `  ${name.padEnd(22)} RSS peak ${fmt(peak(r.rss))} MB, end ${fmt(end(r.rss))} MB; normal readers: ${r.stats.ok}/${r.stats.finished} answers ok,`
  + ` ${r.stats.lost} tokens lost; token delay p50 ${fmt(pct(r.delays, 50), 1)} p99 ${fmt(pct(r.delays, 99), 1)} max ${fmt(r.delays.at(-1))} ms;`
  + ` long answers ${r.finals.filter(f => f.status === 'done' && f.length === CHUNKS * CHUNK).length}/${LONG} done and whole`
  + (Object.keys(r.stats.reasons).length ? `; failures ${JSON.stringify(r.stats.reasons)}` : '')
console.log('\nFrom the long answers\' start to the end of the run:')
console.log(line('without stalled readers', without))
console.log(line('with stalled readers', withS))
const dropped = withS.fates.filter(f => f.closedByServer && !f.gotDone).length
// A stalled reader that got [DONE] once it read at the end was never dropped: the write timeout had
// not run out by then (a server too slow to write it), or its answer fit in the sockets' buffers.
const whole = withS.fates.filter(f => f.gotDone).length
const mb = withS.fates.map(f => f.bytes / 1048576).sort((a, b) => a - b)
console.log(`  stalled readers: ${dropped}/${withS.fates.length} dropped by the server before [DONE]; each had been sent ${fmt(mb[0], 2)}-${fmt(mb.at(-1), 2)} MB`
  + ` (median ${fmt(mb[Math.floor(mb.length / 2)], 2)}) of its ${fmt(CHUNKS * CHUNK / 1048576, 1)} MB answer; ${whole} were still open and got it whole once they read`)

const rssRatio = peak(withS.rss) / peak(without.rss)
const delayRatio = pct(withS.delays, 99) / pct(without.delays, 99)
const checks = [
  ['stalled readers do not grow memory', rssRatio <= MAX_RSS_RATIO, `peak RSS ${fmt(peak(withS.rss))} vs ${fmt(peak(without.rss))} MB, ${fmt(rssRatio, 2)}x (target <= ${MAX_RSS_RATIO}x)`],
  ['stalled readers are dropped', dropped === withS.fates.length, `${dropped}/${withS.fates.length}`],
  ['stalled readers do not slow other readers', delayRatio <= MAX_DELAY_RATIO, `p99 token delay ${fmt(pct(withS.delays, 99), 1)} vs ${fmt(pct(without.delays, 99), 1)} ms, ${fmt(delayRatio, 2)}x (target <= ${MAX_DELAY_RATIO}x)`],
  ['no normal reader failed or lost a token', [without, withS].every(r => r.stats.failed + r.stats.failedStarts + r.stats.lost === 0), `${withS.stats.failed + withS.stats.failedStarts} failed, ${withS.stats.lost} lost with; ${without.stats.failed + without.stats.failedStarts} failed, ${without.stats.lost} lost without`],
  ['the long answers finish whole', [without, withS].every(r => r.finals.every(f => f.status === 'done' && f.length === CHUNKS * CHUNK)), JSON.stringify(withS.finals.filter(f => f.status !== 'done').slice(0, 3))],
]
for (const [what, ok, figure] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${what}: ${figure}`)
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1
