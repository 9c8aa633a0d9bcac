#!/usr/bin/env node
// Flume relay benchmark (`npm run bench`; not a test: run on demand, prints figures).
//
// What it measures, and why: Flume's stream route sits between an OpenAI-compatible
// upstream and the browsers. Its cost is compared with the least any Node relay can do:
// a bare node:http server (bench/bare-relay.mjs) that forwards each upstream delta as an
// SSE frame. Same fake upstream, same clients, same machine, one target at a time.
//
//   fake upstream (this process)  --SSE chunks-->  target (child process)  --SSE-->  clients (this process)
//
// - added latency per token: client receipt time - upstream send time, both
//   performance.now() in this process (the clients parse each frame and map its text back
//   to token indexes through the `id:` offset; tokens are fixed-length strings);
// - tokens/s received; streams ok / failed;
// - server CPU seconds: utime+stime of the target's process from /proc/<pid>/stat over the
//   streaming window (setup shown apart). This machine has few cores shared by the clients,
//   the upstream and the server, so wall time says little: CPU is counted per process;
// - peak RSS of the target's process (VmRSS sampled every 100 ms, and VmHWM).
//
// Scenario A: many concurrent streams at a human rate (default 1,000 x 100 tokens at
// 10 tokens/s). Setup is ramped; the upstream holds every stream at a barrier until all
// are connected, so all of them stream concurrently during the measurement.
// Scenario B: one long stream (default 20,000 tokens) as fast as the upstream can send.
//
// Flume runs with OPENAI_API_KEY=bench, FLUME_UPSTREAM_MAX_RETRIES=0, FLUME_MODEL=bench-model and
// FLUME_STALL_TIMEOUT_MS=180000 (streams wait at the barrier while the others are set up).
// On a shared machine use --wait-idle: rounds start when other processes leave the cores alone.
//
// Usage: npm run bench -- [--quick] [--streams N] [--tokens N] [--rate R] [--b-tokens N]
//        [--only A|B] [--target both|flume|bare] [--build] [--cpu-prof] [--help]
// Env: FLUME_OUTPUT_DIR (default .output), FLUME_BUILD_DIR (for --build).

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { makeAgent, readStream, requestJson, Samples } from './lib/client.mjs'
import { cpuSeconds, machineCpu, memory, openFileLimit, rssSampler, schedstat, waitForQuiet } from './lib/proc.mjs'
import { summarize } from './lib/profile.mjs'
import { killTargets, startBare, startFlume } from './lib/targets.mjs'
import { startUpstream } from './lib/upstream.mjs'

const root = resolve(import.meta.dirname, '..')
const resultsDir = resolve(root, 'bench/.results')

// ---------------------------------------------------------------- options
const { values: argv } = parseArgs({
  options: {
    'quick': { type: 'boolean', default: false },
    'streams': { type: 'string' },
    'tokens': { type: 'string' },
    'rate': { type: 'string' },
    'b-tokens': { type: 'string' },
    'ramp-ms': { type: 'string' },
    'setup-concurrency': { type: 'string' },
    'only': { type: 'string' },
    'target': { type: 'string', default: 'both' },
    'bare-client': { type: 'string', default: 'fetch' },
    'build': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'no-warmup': { type: 'boolean', default: false },
    'timeout': { type: 'string' },
    'repeat-a': { type: 'string' },
    'repeat-b': { type: 'string' },
    'strict': { type: 'boolean', default: false },
    'wait-idle': { type: 'string' },
    'help': { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (argv.help) {
  console.log(`npm run bench -- [options]
  --quick               smoke run: 100 streams x 30 tokens, B with 5,000 tokens
  --streams N           scenario A concurrent streams (default 1000)
  --tokens N            scenario A tokens per stream (default 100)
  --rate R              scenario A tokens/s per stream (default 10; 0 = as fast as possible)
  --b-tokens N          scenario B tokens in the single stream (default 20000)
  --ramp-ms MS          spread scenario A setup over MS ms (default 3 ms per stream, >= 1 s)
  --setup-concurrency N max setups (POST chat, POST message, GET stream) in flight (default 64)
  --only A|B            run one scenario
  --target both|flume|bare
  --bare-client fetch|http  transport of the baseline relay to the upstream (default fetch,
                        like the openai SDK in Flume)
  --build               rebuild Flume first (npx nuxt build; also done when the output is missing)
  --cpu-prof            profile both servers during each measurement window
                        (bench/.results/<target>-<A|B>-<time>-<n>.cpuprofile; summary printed).
                        Profiling costs CPU: the CPU and speed checks are then only indicative
  --no-warmup           skip the short warm-up run on each fresh server
  --repeat-a N / --repeat-b N  measured rounds (default A 3, B 5; quick: A 1). Rounds
                        alternate between the targets; the table shows each target's median
                        run (A by p50 latency, B by tokens/s), the checks use the median of the
                        per-round Flume/bare comparisons
  --timeout S           overall time limit in seconds (default 900, quick 240)
  --strict              exit 1 when a target check fails
  --wait-idle S         before each measured run, wait up to S seconds for the machine to be
                        quiet (other processes < 25% of all cores for 3 s); for shared machines
Env: FLUME_OUTPUT_DIR picks the build to run (default .output); FLUME_BUILD_DIR for --build.`)
  process.exit(0)
}

const quick = argv.quick
const int = (v, d) => (v === undefined ? d : Math.max(0, Number.parseInt(v, 10)))
const num = (v, d) => (v === undefined ? d : Math.max(0, Number(v)))
const cfg = {
  quick,
  streams: int(argv.streams, quick ? 100 : 1000),
  tokens: int(argv.tokens, quick ? 30 : 100),
  rate: num(argv.rate, 10),
  bTokens: int(argv['b-tokens'], quick ? 5000 : 20000),
  setupConcurrency: int(argv['setup-concurrency'], 64),
  only: argv.only?.toUpperCase(),
  targets: argv.target === 'both' ? ['bare', 'flume'] : [argv.target],
  bareClient: argv['bare-client'] === 'http' ? 'http' : 'fetch',
  cpuProf: argv['cpu-prof'],
  warmup: !argv['no-warmup'],
  timeoutS: num(argv.timeout, quick ? 240 : 900),
  repeatA: Math.max(1, int(argv['repeat-a'], quick ? 1 : 3)),
  repeatB: Math.max(1, int(argv['repeat-b'], 5)),
  waitIdleS: num(argv['wait-idle'], 0),
}
cfg.rampMs = num(argv['ramp-ms'], Math.max(1000, cfg.streams * 3))
for (const t of cfg.targets) if (t !== 'bare' && t !== 'flume') fail(`unknown --target ${t}`)
if (cfg.only && cfg.only !== 'A' && cfg.only !== 'B') fail(`unknown --only ${argv.only}`)

const outputDir = resolve(root, process.env.FLUME_OUTPUT_DIR || '.output')
const serverEntry = join(outputDir, 'server/index.mjs')

// ---------------------------------------------------------------- lifecycle
/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set()
let partial = null // results so far, written on abnormal exit

function killChildren(signal = 'SIGKILL') {
  killTargets(signal)
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill(signal)
      }
      catch { /* gone */ }
    }
  }
}
process.on('exit', () => {
  killChildren()
})
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n[bench] ${sig}: stopping children`)
    abortAll(`${sig}`)
    process.exit(130)
  })
}
for (const ev of ['uncaughtException', 'unhandledRejection']) {
  process.on(ev, (e) => {
    console.error(`[bench] ${ev}:`, e)
    abortAll('error')
    process.exit(1)
  })
}
const overall = setTimeout(() => {
  console.error(`\n[bench] overall timeout (${cfg.timeoutS} s) reached: stopping`)
  abortAll('timeout')
  process.exit(2)
}, cfg.timeoutS * 1000)
overall.unref()

function abortAll(why) {
  killChildren()
  if (partial) {
    try {
      writeResults({ ...partial, aborted: why })
    }
    catch { /* best effort */ }
  }
}

function fail(msg) {
  console.error(`[bench] ${msg}`)
  process.exit(1)
}

const log = (...a) => console.log('[bench]', ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))

async function ensureBuild() {
  if (!cfg.targets.includes('flume')) return
  if (existsSync(serverEntry) && !argv.build) return
  log(`building Flume into ${outputDir} (npx nuxt build)…`)
  const nuxtBin = realpathSync(resolve(root, 'node_modules/.bin/nuxt'))
  const t0 = Date.now()
  const code = await new Promise((res) => {
    const c = spawn(process.execPath, [nuxtBin, 'build'], { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } })
    children.add(c)
    c.on('exit', (code) => {
      children.delete(c)
      res(code)
    })
  })
  if (code !== 0 || !existsSync(serverEntry)) fail(`nuxt build failed (exit ${code})`)
  log(`built in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}

// ---------------------------------------------------------------- per-stream setup
/** Returns { url, headers } for reading the stream of `tag` on the target. */
async function setupStream(target, tag, agent) {
  if (target.name === 'bare') return { url: `${target.url}/stream?tag=${encodeURIComponent(tag)}`, headers: {} }
  const origin = target.url
  const chat = await requestJson(`${target.url}/api/chats`, { method: 'POST', agent, body: { title: `bench ${tag}` }, headers: { origin } })
  if (chat.status !== 201 && chat.status !== 200) throw new SetupError(`chat_${chat.status}`, chat.body)
  const setCookie = [chat.headers['set-cookie'] ?? []].flat()
  const cookie = setCookie.map(c => c.split(';')[0]).join('; ')
  const headers = cookie ? { cookie } : {}
  const msg = await requestJson(`${target.url}/api/chats/${encodeURIComponent(chat.body.id)}/messages`, {
    method: 'POST', agent, headers: { ...headers, origin }, body: { content: `flume-bench ${tag}` },
  })
  if (msg.status !== 202 && msg.status !== 200 && msg.status !== 201) throw new SetupError(`message_${msg.status}`, msg.body)
  const streamUrl = msg.body?.streamUrl
  if (typeof streamUrl !== 'string') throw new SetupError('no_stream_url', msg.body)
  return { url: new URL(streamUrl, target.url).href, headers }
}
class SetupError extends Error {
  constructor(code, body) {
    super(`${code}: ${JSON.stringify(body)?.slice(0, 300)}`)
    this.code = code
  }
}

// ---------------------------------------------------------------- one scenario on one target
let runSeq = 0
/**
 * @param {object} target  started server
 * @param {object} up      fake upstream
 * @param {{ label: string, streams: number, tokens: number, rate: number, rampMs: number, burst?: number, measure?: boolean }} sc
 *   measure: ask the server's preload for loop-delay/GC figures (and a profile) of the window
 */
async function runScenario(target, up, sc) {
  const agent = makeAgent()
  const latencies = new Samples(Math.max(1024, sc.streams * sc.tokens))
  const sentAt = new Samples(Math.max(1024, sc.streams * sc.tokens))
  const seq = ++runSeq
  const streams = Array.from({ length: sc.streams }, (_, i) => {
    const tag = `r${seq}-${target.name}-${i}-${Math.random().toString(36).slice(2, 8)}`
    return { tag, plan: up.register(tag, { n: sc.tokens, rate: sc.rate, burst: sc.burst ?? 64 }), arrived: false, opened: false, setupFailed: false, result: null, setupMs: NaN }
  })
  const byTag = new Map(streams.map(s => [s.tag, s]))
  up.onArrive((plan) => {
    const s = byTag.get(plan.tag)
    if (s) s.arrived = true
  })

  const rss = rssSampler(target.pid, 100)
  const benchCpu0 = process.cpuUsage()
  const cpuSetup0 = cpuSeconds(target.pid)
  const tSetup0 = performance.now()
  const ac = new AbortController()

  // Ramp: stream i starts its setup at i * rampMs / streams, at most setupConcurrency in flight.
  let inFlight = 0
  const waiters = []
  const acquire = () => inFlight < cfg.setupConcurrency ? (inFlight++, Promise.resolve()) : new Promise(r => waiters.push(r))
  const release = () => {
    const w = waiters.shift()
    if (w) w()
    else inFlight--
  }
  const setupErrors = new Map()
  const readers = streams.map(async (s, i) => {
    await sleep(sc.streams > 1 ? (i * sc.rampMs) / sc.streams : 0)
    await acquire()
    const t0 = performance.now()
    let released = false
    const rel = () => {
      if (released) return
      released = true
      release()
    }
    try {
      const { url, headers } = await setupStream(target, s.tag, agent)
      s.result = await readStream({
        url, headers, agent, plan: s.plan, latencies, sentAt, signal: ac.signal,
        onOpen: () => {
          s.opened = true
          s.setupMs = performance.now() - t0
          rel()
        },
      })
    }
    catch (e) {
      s.setupFailed = true
      const code = e instanceof SetupError ? e.code : `setup_${e.code ?? e.message}`
      setupErrors.set(code, e.message)
      s.result = { ok: false, reason: code, tokens: 0 }
    }
    finally { rel() }
    if (!s.opened) s.setupFailed = true
    return s.result
  })

  // Barrier: go once every stream is open and its upstream request arrived (or failed).
  const setupDeadline = performance.now() + Math.max(60_000, sc.rampMs * 3)
  for (;;) {
    const pending = streams.filter(s => !s.setupFailed && !(s.arrived && s.opened)).length
    if (pending === 0) break
    if (performance.now() > setupDeadline) {
      log(`  setup deadline: ${pending} streams not ready, starting anyway`)
      break
    }
    await sleep(20)
  }
  const tGo = performance.now()
  const setupSeconds = (tGo - tSetup0) / 1000
  const cpuGo = cpuSeconds(target.pid)
  const schedGo = schedstat(target.pid)
  const machineGo = machineCpu()
  const benchSchedGo = schedstat(process.pid)
  const concurrentAtGo = streams.filter(s => s.opened && s.arrived && !s.result).length
  if (sc.measure) {
    target.windows++
    target.child.kill('SIGUSR2')
  }
  const eld = monitorEventLoopDelay({ resolution: 5 })
  eld.enable()
  const benchCpuGo = process.cpuUsage()
  up.go(streams.map(s => s.plan))

  // Streaming window, bounded.
  const expectedMs = sc.rate > 0 ? (sc.tokens / sc.rate) * 1000 : 0
  const limitMs = Math.max(30_000, expectedMs * 2 + 30_000)
  const limit = setTimeout(() => ac.abort(), limitMs)
  const results = await Promise.all(readers)
  clearTimeout(limit)
  const tEnd = Math.max(...streams.map(s => s.result?.doneAt ?? s.result?.lastRecvAt ?? -Infinity).filter(Number.isFinite), tGo)
  const cpuEnd = cpuSeconds(target.pid)
  const schedEnd = schedstat(target.pid)
  const machineEnd = machineCpu()
  const benchSchedEnd = schedstat(process.pid)
  eld.disable()
  const benchCpuStream = process.cpuUsage(benchCpuGo)
  const machineBusy = machineEnd && machineGo ? machineEnd.busyS - machineGo.busyS : NaN
  const benchCpuSetup = { user: benchCpuGo.user - benchCpu0.user, system: benchCpuGo.system - benchCpu0.system }
  let serverStats = null
  if (sc.measure) {
    target.child.kill('SIGUSR2')
    const f = join(target.statsDir, `window-${target.windows}.json`)
    for (let i = 0; i < 300 && !existsSync(f); i++) await sleep(100)
    try {
      serverStats = JSON.parse(readFileSync(f, 'utf8'))
    }
    catch { log(`  (no server stats for window ${target.windows})`) }
  }
  await sleep(150) // one more RSS sample after the last frames
  const rssState = rss.stop()
  const mem = memory(target.pid)
  up.forget(streams.map(s => s.plan))
  agent.destroy()

  const failures = {}
  for (const r of results) if (!r.ok) failures[r.reason] = (failures[r.reason] ?? 0) + 1
  const okCount = results.filter(r => r.ok).length
  const tokens = results.reduce((a, r) => a + (r.tokens ?? 0), 0)
  const frames = results.reduce((a, r) => a + (r.frames ?? 0), 0)
  const windowS = Math.max(1e-6, (tEnd - tGo) / 1000)
  const lat = latencies.sorted()
  const timeline = latencyTimeline(latencies, sentAt, tGo, sc.rate > 0 ? 250 : 50)
  const setupMs = new Samples(sc.streams)
  for (const s of streams) if (Number.isFinite(s.setupMs)) setupMs.push(s.setupMs)
  const sm = setupMs.sorted()
  const upstreamDup = streams.reduce((a, s) => a + s.plan.duplicates, 0)
  return {
    target: target.name,
    streams: sc.streams,
    tokensPerStream: sc.tokens,
    rate: sc.rate,
    ok: okCount,
    failed: sc.streams - okCount,
    failures,
    setupErrors: Object.fromEntries([...setupErrors].slice(0, 5)),
    concurrentAtGo,
    tokens,
    frames,
    windowSeconds: windowS,
    tokensPerSecond: tokens / windowS,
    latencyMs: { samples: lat.length, p50: q(lat, 0.5), p90: q(lat, 0.9), p99: q(lat, 0.99), max: lat.length ? lat[lat.length - 1] : NaN, mean: mean(lat) },
    latencyTimeline: timeline,
    setupSeconds,
    setupPerStreamMs: { p50: q(sm, 0.5), p99: q(sm, 0.99) },
    cpu: {
      streamingSeconds: diff(cpuEnd, cpuGo),
      setupSeconds: diff(cpuGo, cpuSetup0),
      totalSeconds: diff(cpuEnd, cpuSetup0),
      streamingUser: cpuEnd && cpuGo ? cpuEnd.user - cpuGo.user : NaN,
      streamingSystem: cpuEnd && cpuGo ? cpuEnd.system - cpuGo.system : NaN,
      // Main (JS) thread: time runnable but waiting for a core during the streaming window.
      runQueueWaitSeconds: schedEnd && schedGo ? schedEnd.waitS - schedGo.waitS : NaN,
    },
    rss: { peakSampledMB: rssState.peakMB, hwmMB: mem?.hwmMB ?? NaN, endMB: mem?.rssMB ?? NaN },
    bench: {
      cpuStreamingSeconds: (benchCpuStream.user + benchCpuStream.system) / 1e6,
      cpuSetupSeconds: (benchCpuSetup.user + benchCpuSetup.system) / 1e6,
      loopDelayP99Ms: eld.percentile(99) / 1e6,
      loopDelayMaxMs: eld.max / 1e6,
      runQueueWaitSeconds: benchSchedEnd && benchSchedGo ? benchSchedEnd.waitS - benchSchedGo.waitS : NaN,
    },
    // CPU used during the streaming window by everything else on the machine (not the server,
    // not the bench): the noise. Cores x window seconds is the machine's capacity.
    otherProcessesCpuSeconds: machineBusy - (diff(cpuEnd, cpuGo) || 0) - (benchCpuStream.user + benchCpuStream.system) / 1e6,
    machineCapacitySeconds: machineEnd && machineGo ? machineEnd.totalS - machineGo.totalS : NaN,
    upstreamDuplicates: upstreamDup,
    server: serverStats,
    profile: serverStats?.profile,
  }
}

/** Added latency by upstream send time, in buckets of `bucketMs` after the start: finds periodic stalls. */
function latencyTimeline(latencies, sentAt, t0, bucketMs) {
  const buckets = []
  for (let i = 0; i < latencies.n; i++) {
    const b = Math.max(0, Math.floor((sentAt.a[i] - t0) / bucketMs))
    ;(buckets[b] ??= []).push(latencies.a[i])
  }
  return {
    bucketMs,
    buckets: buckets.map((v, i) => {
      if (!v) return { t: i * bucketMs, n: 0 }
      v.sort((x, y) => x - y)
      return { t: i * bucketMs, n: v.length, p50: round2(q(v, 0.5)), p99: round2(q(v, 0.99)), max: round2(v[v.length - 1]) }
    }),
  }
}
const round2 = v => Math.round(v * 100) / 100

const diff = (a, b) => (a && b ? a.total - b.total : NaN)
const q = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN)
const mean = a => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : NaN)

// ---------------------------------------------------------------- report
function fmt(v, d = 1) {
  if (typeof v === 'string') return v
  if (v === undefined || v === null || Number.isNaN(v)) return '-'
  if (!Number.isFinite(v)) return String(v)
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
}

function table(title, runs) {
  const cols = runs.map(r => (r.target === 'bare' ? `bare relay (${cfg.bareClient})` : 'Flume'))
  const rows = [
    ['streams ok / failed', r => `${r.ok} / ${r.failed}`],
    ['failure reasons', r => (r.failed ? Object.entries(r.failures).map(([k, v]) => `${k}:${v}`).join(' ') : '-')],
    ['concurrent at start of measurement', r => String(r.concurrentAtGo)],
    ['tokens received', r => fmt(r.tokens, 0)],
    ['SSE frames received (deltas merged)', r => fmt(r.frames, 0)],
    ['tokens/s received (all streams)', r => fmt(r.tokensPerSecond, 0)],
    ['tokens/s of each repeat', r => (r.repeats?.length > 1 ? r.repeats.map(x => fmt(x.tokensPerSecond / 1000, 0) + 'k').join(' ') : '-')],
    ['measurement window (s)', r => fmt(r.windowSeconds, 2)],
    ['added latency p50 (ms)', r => fmt(r.latencyMs.p50, 2)],
    ['added latency p90 (ms)', r => fmt(r.latencyMs.p90, 2)],
    ['added latency p99 (ms)', r => fmt(r.latencyMs.p99, 2)],
    ['added latency max (ms)', r => fmt(r.latencyMs.max, 1)],
    ['server CPU, streaming window (s)', r => fmt(r.cpu.streamingSeconds, 2)],
    ['  of which user / system (s)', r => `${fmt(r.cpu.streamingUser, 2)} / ${fmt(r.cpu.streamingSystem, 2)}`],
    ['server main thread run-queue wait (s)', r => fmt(r.cpu.runQueueWaitSeconds, 2)],
    ['server CPU, setup (s)', r => fmt(r.cpu.setupSeconds, 2)],
    ['server CPU per 1k tokens (ms)', r => fmt((r.cpu.streamingSeconds * 1e6) / Math.max(1, r.tokens), 2)],
    ['server peak RSS (MB, VmHWM)', r => fmt(r.rss.hwmMB, 0)],
    ['server peak RSS sampled / end (MB)', r => `${fmt(r.rss.peakSampledMB, 0)} / ${fmt(r.rss.endMB, 0)}`],
    ['server peak RSS sampled, each round', r => (r.repeats?.length > 1 ? r.repeats.map(x => fmt(x.peakRssMB, 0)).join(' ') : '-')],
    ['server V8 heap used / total, peak (MB)', r => (r.server?.memoryMB ? `${r.server.memoryMB.peak.heapUsed} / ${r.server.memoryMB.peak.heapTotal}` : '-')],
    ['server off-heap external / buffers (MB)', r => (r.server?.memoryMB ? `${r.server.memoryMB.peak.external} / ${r.server.memoryMB.peak.arrayBuffers}` : '-')],
    ['setup wall (s) / per stream p50 (ms)', r => `${fmt(r.setupSeconds, 1)} / ${fmt(r.setupPerStreamMs.p50, 1)}`],
    ['server event-loop delay p50/p99/max (ms)', r => (r.server ? `${fmt(r.server.loopDelayMs.p50, 1)} / ${fmt(r.server.loopDelayMs.p99, 1)} / ${fmt(r.server.loopDelayMs.max, 0)}` : '-')],
    ['server GC pauses: count / total / max (ms)', r => (r.server ? `${r.server.gc.count} / ${fmt(r.server.gc.ms, 0)} / ${fmt(r.server.gc.maxMs, 1)}` : '-')],
    ['bench process CPU stream/setup (s)', r => `${fmt(r.bench.cpuStreamingSeconds, 2)} / ${fmt(r.bench.cpuSetupSeconds, 2)}`],
    ['bench event-loop delay p99 / max (ms)', r => `${fmt(r.bench.loopDelayP99Ms, 1)} / ${fmt(r.bench.loopDelayMaxMs, 1)}`],
    ['bench run-queue wait (s)', r => fmt(r.bench.runQueueWaitSeconds, 2)],
    ['other processes\' CPU in window (~s of cap.)', r => `${fmt(Math.max(0, r.otherProcessesCpuSeconds), 1)} of ${fmt(r.machineCapacitySeconds, 1)}`],
    ['load average at start (1 min)', r => fmt(r.loadAvgAtStart, 2)],
  ]
  const w0 = Math.max(...rows.map(r => r[0].length)) + 2
  const cells = rows.map(([, f]) => runs.map(f))
  const ws = cols.map((c, i) => Math.max(c.length, ...cells.map(r => r[i].length)) + 2)
  const lines = [`\n== ${title}`, ''.padEnd(w0) + cols.map((c, i) => c.padStart(ws[i])).join('')]
  rows.forEach(([label], j) => lines.push(label.padEnd(w0) + cells[j].map((c, i) => c.padStart(ws[i])).join('')))
  return lines.join('\n')
}

function checksFor(scenario, runs, paired) {
  const flume = runs.find(r => r.target === 'flume')
  const bare = runs.find(r => r.target === 'bare')
  const rounds = v => (paired ? ` [median of ${v.length} rounds: ${v.map(x => fmt(x, 2)).join(', ')}]` : '')
  const out = []
  const add = (pass, text) => out.push({ pass, text })
  if (scenario === 'A') {
    if (flume) add(flume.failed === 0, `A: zero failed Flume streams (${flume.failed} failed of ${flume.streams})`)
    if (bare) add(bare.failed === 0, `A: zero failed bare-relay streams (${bare.failed} failed) [sanity]`)
    if (flume && bare) {
      const d = paired ? paired.median.p50DiffMs : flume.latencyMs.p50 - bare.latencyMs.p50
      add(d <= 2, `A: Flume p50 added latency within 2 ms of the bare relay (${fmt(flume.latencyMs.p50, 2)} vs ${fmt(bare.latencyMs.p50, 2)} ms: ${d >= 0 ? '+' : ''}${fmt(d, 2)} ms${rounds(paired?.p50DiffMs ?? [])})`)
      const ratio = paired ? paired.median.cpuRatio : flume.cpu.streamingSeconds / bare.cpu.streamingSeconds
      add(ratio <= 2, `A: Flume CPU within 2x of the bare relay, streaming window (${fmt(flume.cpu.streamingSeconds, 2)} vs ${fmt(bare.cpu.streamingSeconds, 2)} s: ${fmt(ratio, 2)}x${rounds(paired?.cpuRatio ?? [])}; incl. setup ${fmt(flume.cpu.totalSeconds / bare.cpu.totalSeconds, 2)}x)`)
    }
    if (flume) {
      const each = flume.repeats?.length > 1 ? `; peak by round ${flume.repeats.map(x => fmt(x.peakRssMB, 0)).join(', ')} MB in one process` : ''
      add(flume.rss.hwmMB < 400, `A: Flume peak RSS under 400 MB (VmHWM ${fmt(flume.rss.hwmMB, 0)} MB${each})`)
    }
  }
  else {
    if (flume) add(flume.failed === 0, `B: the Flume stream completed (${flume.ok ? 'ok' : Object.keys(flume.failures).join(',')})`)
    if (flume && bare) {
      const ratio = paired ? paired.median.tokensPerSecondRatio : flume.tokensPerSecond / bare.tokensPerSecond
      add(ratio >= 0.6, `B: Flume tokens/s at least 60% of the bare relay's (${fmt(flume.tokensPerSecond, 0)} vs ${fmt(bare.tokensPerSecond, 0)}: ${fmt(ratio * 100, 0)}%${rounds(paired?.tokensPerSecondRatio ?? [])})`)
    }
  }
  return out
}

function writeResults(obj) {
  mkdirSync(resultsDir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const file = join(resultsDir, `relay-${stamp}${cfg.quick ? '-quick' : ''}.json`)
  const text = `${JSON.stringify(obj, null, 2)}\n`
  writeFileSync(file, text)
  writeFileSync(join(resultsDir, 'latest.json'), text)
  return file
}

// ---------------------------------------------------------------- main
async function main() {
  const fd = openFileLimit()
  const fdNeeded = cfg.streams * 2 + 512
  log(`node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GB RAM, load ${loadavg().map(v => v.toFixed(2)).join(' ')}`)
  log(`open files limit (ulimit -n): soft ${fd.soft}, hard ${fd.hard}; each process here needs about ${fdNeeded} for ${cfg.streams} streams (a client socket and an upstream socket per stream)`)
  if (fd.soft < fdNeeded) fail(`ulimit -n is ${fd.soft}: too low for ${cfg.streams} streams. Raise it (ulimit -n ${Math.min(fd.hard, Math.max(fdNeeded, 65536))}) or use --streams.`)
  log('CPU is counted per process (/proc/<pid>/stat utime+stime): the clients, the upstream and the servers share the cores, so wall time alone would mislead.')
  if (cfg.targets.includes('flume')) log(`Flume build: ${serverEntry}`)
  await ensureBuild()

  const results = {
    startedAt: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    cpuModel: cpus()[0]?.model,
    openFilesLimit: fd.soft,
    config: { ...cfg, outputDir },
    scenarios: {},
    checks: [],
  }
  partial = results

  const up = await startUpstream({ log })
  const scenarios = []
  if (!cfg.only || cfg.only === 'A') {
    scenarios.push({
      key: 'A',
      title: `Scenario A: ${cfg.streams} concurrent streams x ${cfg.tokens} tokens at ${cfg.rate || 'max'} tokens/s each (setup ramped over ${(cfg.rampMs / 1000).toFixed(1)} s; median of ${cfg.repeatA} rounds)`,
      params: { streams: cfg.streams, tokens: cfg.tokens, rate: cfg.rate, rampMs: cfg.rampMs },
      repeat: cfg.repeatA,
      warm: { streams: Math.min(50, cfg.streams), tokens: 200, rate: 0, rampMs: 200 },
    })
  }
  if (!cfg.only || cfg.only === 'B') {
    scenarios.push({
      key: 'B',
      title: `Scenario B: 1 stream x ${cfg.bTokens} tokens as fast as the upstream can send (median of ${cfg.repeatB} rounds)`,
      params: { streams: 1, tokens: cfg.bTokens, rate: 0, rampMs: 0, burst: 64 },
      repeat: cfg.repeatB,
      warm: { streams: 1, tokens: Math.min(5000, cfg.bTokens), rate: 0, rampMs: 0 },
    })
  }

  let anyFail = false
  for (const sc of scenarios) {
    // Every target of the scenario runs in its own fresh process (its peak RSS is its own);
    // measured runs alternate between targets (bare, Flume, bare, Flume, ...) so that load from
    // elsewhere on the machine hits both alike. Idle servers cost next to nothing meanwhile.
    const started = []
    const runs = []
    try {
      for (const t of cfg.targets) {
        const profPrefix = cfg.cpuProf ? join(resultsDir, `${t}-${sc.key}-${new Date().toISOString().replace(/[:.]/g, '-')}`) : undefined
        if (profPrefix) mkdirSync(resultsDir, { recursive: true })
        log(`${sc.key}: starting ${label(t)}…`)
        const target = t === 'flume'
          ? await startFlume({ outputDir, upstreamUrl: up.url, profPrefix })
          : await startBare({ upstreamUrl: up.url, bareClient: cfg.bareClient, profPrefix })
        started.push(target)
        if (cfg.warmup) {
          const w = await runScenario(target, up, { label: 'warmup', ...sc.warm })
          log(`  warm-up: ${w.ok}/${w.streams} ok, ${fmt(w.tokensPerSecond, 0)} tokens/s${w.failed ? `, failures ${JSON.stringify(w.failures)} ${JSON.stringify(w.setupErrors)}` : ''}`)
        }
      }
      const reps = new Map(started.map(t => [t, []]))
      for (let k = 0; k < sc.repeat; k++) {
        for (const target of started) {
          if (cfg.waitIdleS > 0) {
            const t0 = Date.now()
            const busy = await waitForQuiet({ timeoutMs: cfg.waitIdleS * 1000 })
            const waited = (Date.now() - t0) / 1000
            if (waited > 4) log(`  waited ${waited.toFixed(0)} s for a quiet machine (busy ${(busy * 100).toFixed(0)}%)`)
          }
          const load = loadavg()[0]
          const x = await runScenario(target, up, { label: sc.key, ...sc.params, measure: true })
          x.loadAvgAtStart = load
          reps.get(target).push(x)
          log(`  ${label(target.name)} run ${k + 1}/${sc.repeat}: ${x.ok}/${x.streams} ok, ${fmt(x.tokensPerSecond, 0)} tokens/s, p50 ${fmt(x.latencyMs.p50, 2)} ms, p99 ${fmt(x.latencyMs.p99, 1)} ms, CPU ${fmt(x.cpu.streamingSeconds, 2)} s, RSS ${fmt(x.rss.hwmMB, 0)} MB (load ${load.toFixed(2)})`)
          if (x.failed) {
            log(`  failures: ${JSON.stringify(x.failures)} ${JSON.stringify(x.setupErrors)}`)
            const tail = target.logs.get().split('\n').slice(-15).join('\n')
            if (tail.trim()) log(`  last server output:\n${tail}`)
          }
        }
      }
      for (const target of started) {
        const list = reps.get(target)
        // The median run (A by p50 latency, B by tokens/s) stands for the target.
        const key = sc.key === 'B' ? x => x.tokensPerSecond : x => x.latencyMs.p50
        const sorted = [...list].sort((a, b) => key(a) - key(b))
        const r = { ...sorted[Math.floor((sorted.length - 1) / 2)] }
        r.repeats = list.map(x => ({ ok: x.ok, failed: x.failed, tokensPerSecond: x.tokensPerSecond, p50: x.latencyMs.p50, p99: x.latencyMs.p99, cpuStreamingSeconds: x.cpu.streamingSeconds, runQueueWaitSeconds: x.cpu.runQueueWaitSeconds, peakRssMB: x.rss.peakSampledMB, hwmMB: x.rss.hwmMB, loadAvgAtStart: x.loadAvgAtStart, otherProcessesCpuSeconds: x.otherProcessesCpuSeconds, profile: x.profile }))
        // Any failure in any run counts; peak RSS is the process's peak over all runs.
        r.failed = Math.max(...list.map(x => x.failed))
        r.ok = r.streams - r.failed
        r.failures = Object.assign({}, ...list.map(x => x.failures))
        r.rss = { ...r.rss, hwmMB: Math.max(...list.map(x => x.rss.hwmMB)), peakSampledMB: Math.max(...list.map(x => x.rss.peakSampledMB)) }
        if (r.profile && existsSync(r.profile)) r.profileSummary = summarize(JSON.parse(readFileSync(r.profile, 'utf8')), 25)
        runs.push(r)
      }
      if (sc.repeat > 1 && runs.length === 2) {
        // Paired per round: Flume minus bare of the same round.
        const [a, b] = started.map(t => reps.get(t))
        const flumeList = started[0].name === 'flume' ? a : b
        const bareList = started[0].name === 'flume' ? b : a
        const d = flumeList.map((f, i) => f.latencyMs.p50 - bareList[i].latencyMs.p50).sort((x, y) => x - y)
        const c = flumeList.map((f, i) => f.cpu.streamingSeconds / bareList[i].cpu.streamingSeconds).sort((x, y) => x - y)
        const t = flumeList.map((f, i) => f.tokensPerSecond / bareList[i].tokensPerSecond).sort((x, y) => x - y)
        const med = v => v[Math.floor((v.length - 1) / 2)]
        results.paired ??= {}
        results.paired[sc.key] = { p50DiffMs: d, cpuRatio: c, tokensPerSecondRatio: t, median: { p50DiffMs: med(d), cpuRatio: med(c), tokensPerSecondRatio: med(t) } }
      }
    }
    finally {
      for (const target of started) await target.stop()
    }
    results.scenarios[sc.key] = { title: sc.title, runs }
    const checks = checksFor(sc.key, runs, results.paired?.[sc.key])
    results.checks.push(...checks)
    console.log(table(sc.title, runs))
    if (cfg.quick) console.log('  (--quick smoke run: the targets are defined for the full run; short B runs weigh start-up costs more)')
    if (cfg.cpuProf) console.log('  (profiling was on: CPU and throughput figures are inflated/deflated by the profiler; compare profiles, not the checks)')
    if (sc.key === 'A') {
      for (const r of runs) {
        const tl = r.latencyTimeline
        console.log(`  p99 added latency (ms) per ${tl.bucketMs / 1000} s of sending, ${label(r.target)}: ${tl.buckets.map(b => (b.n ? fmt(b.p99, b.p99 < 10 ? 1 : 0) : '-')).join(' ')}`)
      }
    }
    for (const c of checks) {
      console.log(`  [${c.pass ? 'PASS' : 'FAIL'}] ${c.text}`)
      if (!c.pass) anyFail = true
    }
    for (const r of runs) {
      if (r.profileSummary) console.log(`\n-- ${r.target === 'flume' ? 'Flume' : 'bare relay'} CPU profile, scenario ${sc.key} (${r.profile}) --\n${r.profileSummary}`)
    }
  }
  await up.close()

  console.log(`\nNotes: added latency = client receipt - upstream send, per token, same process clock (includes two loopback hops and
the bench process's own event-loop delay, shown above). Server CPU is the target process only (all its threads);
the bench process (upstream + clients) is shown apart. ${cores()} cores are shared by everything here.
Flume merges pending deltas into one frame; the bare relay sends one frame per upstream chunk.`)
  results.finishedAt = new Date().toISOString()
  const file = writeResults(results)
  partial = null
  console.log(`\nresults: ${file}`)
  return anyFail
}
const cores = () => cpus().length
const label = t => (t === 'flume' ? 'Flume' : `bare relay (${cfg.bareClient})`)

main().then((anyFail) => {
  clearTimeout(overall)
  process.exit(anyFail && argv.strict ? 1 : 0)
}, (e) => {
  console.error('[bench] failed:', e?.stack ?? e)
  abortAll('error')
  process.exit(1)
})
