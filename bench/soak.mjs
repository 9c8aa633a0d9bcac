// Soak: one Flume instance (production build) with `--streams` answers streaming at once for
// `--minutes`; as each answer ends the next starts (bench/lib/crowd.mjs). It stops by itself and
// prints PASS/FAIL for: no token lost (every token the upstream wrote reached its reader, in
// order, by the `id:` offsets), no failed stream, and the server's RSS at the end within 10% of
// its RSS after the first minute.
//
//   npm run bench:soak                          # 200 streams, 10 minutes
//   npx node bench/soak.mjs --minutes 1         # a short run
//   npx node bench/soak.mjs --output .output-c  # another build (also FLUME_OUTPUT_DIR)

import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { median, pct, startCrowd } from './lib/crowd.mjs'
import { cpuSeconds, memory, openFileLimit, schedstat } from './lib/proc.mjs'
import { killTargets, serverFlags, startFlume } from './lib/targets.mjs'
import { startUpstream } from './lib/upstream.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    'minutes': { type: 'string', default: '10' },
    'streams': { type: 'string', default: '200' },
    'tokens': { type: 'string', default: '100' },
    'rate': { type: 'string', default: '10' },
    'report-every': { type: 'string', default: '60' },
    'max-growth': { type: 'string', default: '0.10' },
    'output': { type: 'string', default: process.env.FLUME_OUTPUT_DIR || '.output' },
    'help': { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npx node bench/soak.mjs [--minutes 10] [--streams 200] [--tokens 100] [--rate 10] [--report-every 60] [--output .output]
  --streams       answers streaming at once (a new one starts as each ends)
  --tokens/--rate tokens per answer and tokens per second of each (100 at 10/s: 10 s per answer)
  --report-every  seconds between progress lines
  --max-growth    allowed RSS growth from the first minute to the end (0.10 = 10%)`)
  process.exit(0)
}
const MINUTES = Math.max(0.25, Number(args.minutes) || 10)
const STREAMS = Math.max(1, Number(args.streams) || 200)
const TOKENS = Math.max(1, Number(args.tokens) || 100)
const RATE = Math.max(0.1, Number(args.rate) || 10)
const REPORT_S = Math.max(5, Number(args['report-every']) || 60)
const MAX_GROWTH = Number(args['max-growth']) || 0.1
const outputDir = resolve(root, args.output)
if (!existsSync(join(outputDir, 'server/index.mjs'))) {
  console.error(`No build at ${outputDir}: run \`npm run build\` first (or give --output / FLUME_OUTPUT_DIR).`)
  process.exit(1)
}
const limit = openFileLimit()
if (limit.soft < STREAMS * 4 + 256) {
  console.error(`ulimit -n is ${limit.soft}: ${STREAMS} streams need about ${STREAMS * 4 + 256} (clients, server, upstream).`)
  process.exit(1)
}

const DURATION_MS = MINUTES * 60_000
// The reference RSS: after the first minute (for runs under two minutes, after half of the run).
const BASE_AT_MS = Math.min(60_000, DURATION_MS / 2)
// One instant's RSS moves with GC: each mark is the median of the samples over the 15 s before it.
const MARK_WINDOW_MS = Math.min(15_000, BASE_AT_MS / 2)
const SAMPLE_MS = 1000

process.on('exit', () => killTargets())
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

const upstream = await startUpstream()
const flume = await startFlume({ outputDir, upstreamUrl: upstream.url, env: { FLUME_RATE_LIMITS: 'off' } })
console.log(`Flume ${outputDir} (pid ${flume.pid}, node ${serverFlags.join(' ') || '(no flags)'}); ${STREAMS} streams x ${TOKENS} tokens at ${RATE} tokens/s, a new answer as each ends, for ${MINUTES} min`)

const rss = [] // [ms since start, MB]
const t0 = performance.now()
const cpu0 = cpuSeconds(flume.pid)
const sched0 = schedstat(flume.pid)
const sampler = setInterval(() => {
  const m = memory(flume.pid)
  if (m) rss.push([performance.now() - t0, m.rssMB])
}, SAMPLE_MS)

const crowd = startCrowd({ target: flume, upstream, slots: STREAMS, tokens: TOKENS, rate: RATE, prefix: 'soak' })
let last = { at: 0, finished: 0, tokens: 0, cpu: cpu0?.total ?? 0 }
const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-')

const progress = setInterval(() => {
  const now = performance.now() - t0
  const s = crowd.stats
  const d = crowd.take()
  const c = cpuSeconds(flume.pid)?.total ?? NaN
  const dt = (now - last.at) / 1000
  console.log(`  ${fmt(now / 60_000, 1).padStart(5)} min  RSS ${fmt(rss.at(-1)?.[1]).padStart(4)} MB  answers ${String(s.finished).padStart(6)} (+${((s.finished - last.finished) / dt).toFixed(1)}/s)`
    + `  tokens/s ${fmt((s.tokensReceived - last.tokens) / dt).padStart(5)}  token delay p50 ${fmt(pct(d, 50), 1)} p99 ${fmt(pct(d, 99), 1)} max ${fmt(d.at(-1), 0)} ms`
    + `  CPU ${fmt((100 * (c - last.cpu)) / dt)}%  failed ${s.failed + s.failedStarts}  lost ${s.lost}`)
  last = { at: now, finished: s.finished, tokens: s.tokensReceived, cpu: c }
}, REPORT_S * 1000)

// The server's own figures (lib/server-preload.mjs) in two windows: the first minute, then the
// rest; each ends with process.memoryUsage(), so RSS growth splits into heap, external and native.
flume.child.kill('SIGUSR2')
await new Promise(r => setTimeout(r, BASE_AT_MS))
flume.child.kill('SIGUSR2')
await new Promise(r => setTimeout(r, 200))
flume.child.kill('SIGUSR2')
await new Promise(r => setTimeout(r, DURATION_MS - BASE_AT_MS - 200))
const endAt = performance.now() - t0
flume.child.kill('SIGUSR2')
clearInterval(sampler)
clearInterval(progress)
const cpu1 = cpuSeconds(flume.pid)
const sched1 = schedstat(flume.pid)
const drainStart = performance.now()
const stats = await crowd.stop(Math.max(30_000, (3 * TOKENS * 1000) / RATE))
const drainS = (performance.now() - drainStart) / 1000
await new Promise(r => setTimeout(r, 500))
const windowFigures = (n) => {
  try {
    return JSON.parse(readFileSync(join(flume.statsDir, `window-${n}.json`), 'utf8'))
  }
  catch { return undefined }
}
const atBase = windowFigures(1)
const server = windowFigures(2)
await flume.stop()
await upstream.close()

const near = mark => median(rss.filter(([t]) => t > mark - MARK_WINDOW_MS && t <= mark).map(([, mb]) => mb))
const base = near(BASE_AT_MS)
const end = near(endAt)
const growth = end / base - 1
const peak = Math.max(...rss.map(([, mb]) => mb))
const all = stats.all.sorted()
const busy = cpu1 && cpu0 ? (cpu1.total - cpu0.total) / (endAt / 1000) : NaN
const wait = sched1 && sched0 ? sched1.waitS - sched0.waitS : NaN

console.log(`\nSoak, ${MINUTES} min, ${STREAMS} streams (+ ${drainS.toFixed(1)} s for the last answers to finish):`)
console.log(`  answers: ${stats.finished} finished (${stats.ok} ok, ${stats.failed} failed streams), ${stats.failedStarts} failed starts${Object.keys(stats.reasons).length ? `; ${JSON.stringify(stats.reasons)}` : ''}`)
console.log(`  tokens: ${stats.tokensSent} written by the upstream, ${stats.tokensReceived} received in order, ${stats.lost} lost; upstream requests Flume aborted: ${upstream.counters.aborted}`)
console.log(`  token delay (client receipt - upstream write) ms: p50 ${fmt(pct(all, 50), 1)}, p99 ${fmt(pct(all, 99), 1)}, p99.9 ${fmt(pct(all, 99.9), 1)}, max ${fmt(all.at(-1), 0)}`)
console.log(`  server CPU ${fmt(100 * busy)}% of one core (run-queue wait ${fmt(wait, 1)} s)${server ? `; event-loop delay p99 ${server.loopDelayMs.p99} ms, max ${server.loopDelayMs.max} ms; GC ${server.gc.count} pauses, ${server.gc.ms} ms, max ${server.gc.maxMs} ms` : ''}`)
if (atBase?.memoryMB && server?.memoryMB) {
  const split = m => `rss ${m.rss}, heap ${m.heapUsed} used / ${m.heapTotal} total, external ${m.external} (array buffers ${m.arrayBuffers}), rest ${m.rss - m.heapTotal - m.external}`
  console.log(`  server memory (MB) after the first minute: ${split(atBase.memoryMB.end)}`)
  console.log(`  server memory (MB) at the end:            ${split(server.memoryMB.end)}`)
}
console.log(`  RSS: ${fmt(base, 1)} MB after ${fmt(BASE_AT_MS / 60_000, 1)} min, ${fmt(end, 1)} MB at the end (${growth >= 0 ? '+' : ''}${fmt(100 * growth, 1)}%), peak ${fmt(peak, 1)} MB (medians over ${MARK_WINDOW_MS / 1000} s)`)

const checks = [
  ['no lost tokens', stats.lost === 0 && stats.tokensSent === stats.tokensReceived, `${stats.lost} lost`],
  ['no failed streams', stats.failed === 0 && stats.failedStarts === 0 && stats.finished > 0, `${stats.failed} failed streams, ${stats.failedStarts} failed starts`],
  [`RSS at the end within ${fmt(100 * MAX_GROWTH)}% of RSS after the first minute`, growth <= MAX_GROWTH, `${fmt(base, 1)} -> ${fmt(end, 1)} MB, ${growth >= 0 ? '+' : ''}${fmt(100 * growth, 1)}%`],
]
for (const [what, ok, figure] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${what}: ${figure}`)
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1
