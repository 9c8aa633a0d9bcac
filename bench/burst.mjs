#!/usr/bin/env node
// Flume start-path benchmark: what it costs to START answers, next to the bare relay
// (bench/bare-relay.mjs, which does the same steps with the least work: a cookie, the JSON
// bodies, the upstream request opened on the post, the frames relayed). Not a test: run on
// demand and read the figures. Issue 7, item 4.
//
//   fake upstream (this process)  --SSE-->  target (child process)  --SSE-->  clients (this process)
//
// Scenario C, "burst": N answers (default 1,000) started at the same moment. Each is a new
// visitor (no cookie: the server issues one), its start request(s), the stream opened with the
// cookie, 1 token, read to [DONE]. Two ways to start, both measured:
//   one: POST /api/chats {title, content} (201 with streamUrl), as the web UI starts a new chat;
//   two: POST /api/chats {title}, then POST /api/chats/:id/messages {content} (202).
// Reported: server CPU seconds (utime+stime of its process, /proc) from just before the first
// request until the last [DONE] plus a 300 ms settle, the Flume/bare ratio (per round, paired),
// wall time, failures, start-request and first-token latency.
//
// Scenario D, "crowd": N streams (default 1,000) at R tokens/s (10) x T tokens (100) whose starts
// arrive spread evenly over S ms (3,000), with no barrier: bursts of new answers arrive while
// earlier ones stream, as users come. Reported: per-token delay (client receipt - upstream send,
// same clock) p50/p99/max and the Flume/bare ratio, start -> first token, server CPU.
//
// No barrier anywhere: the upstream answers each completion as soon as it arrives.
// Flume runs with FLUME_RATE_LIMITS=off plus relay.mjs's settings (OPENAI_API_KEY=bench,
// FLUME_UPSTREAM_MAX_RETRIES=0, FLUME_TITLES=off, FLUME_MODEL=bench-model, FLUME_STALL_TIMEOUT_MS).
//
// Usage: node bench/burst.mjs [--only C|D] [--rounds N] [--output DIR] [--cpu-prof] [--help]

import { setMaxListeners } from 'node:events'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
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

const { values: argv } = parseArgs({
  options: {
    'only': { type: 'string' },
    'answers': { type: 'string' },
    'path': { type: 'string' },
    'streams': { type: 'string' },
    'tokens': { type: 'string' },
    'rate': { type: 'string' },
    'spread-ms': { type: 'string' },
    'rounds': { type: 'string' },
    'target': { type: 'string', default: 'both' },
    'bare-client': { type: 'string', default: 'fetch' },
    'output': { type: 'string' },
    'warmup': { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'wait-idle': { type: 'string' },
    'timeout': { type: 'string' },
    'quick': { type: 'boolean', default: false },
    'help': { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (argv.help) {
  console.log(`node bench/burst.mjs [options]
  --only C|D            one scenario (default both)
  --answers N           C: answers started at once (default 1000)
  --path one|two|both   how an answer starts: one = POST /api/chats {title, content};
                        two = POST /api/chats then POST …/messages (C default both, D default one)
  --streams N           D: streams (default 1000)
  --tokens T            D: tokens per stream (default 100)
  --rate R              D: tokens/s per stream (default 10)
  --spread-ms MS        D: starts spread evenly over MS ms (default 3000)
  --rounds N            measured rounds per target (default 3); rounds alternate bare, Flume, ...
  --target both|flume|bare
  --bare-client fetch|http  the bare relay's upstream transport (default fetch, as the openai SDK)
  --output DIR          the Flume build to run (default FLUME_OUTPUT_DIR or .output), e.g.
                        --output /work/other-checkout/.output
  --warmup N            answers started at once on each fresh server first, once per path
                        (default 1000, quick 100; JIT and heap settle, as on a server that ran a while)
  --cpu-prof            profile both servers during each measured run (bench/.results/
                        burst-<target>-<C|D>-<time>-<n>.cpuprofile; summary printed). Profiling
                        inflates CPU: compare profiles, not the ratios, of such a run
  --wait-idle S         before each measured run wait up to S s for a quiet machine
  --quick               100 answers / 100 streams x 30 tokens, 1 round
  --timeout S           overall limit (default 1800)`)
  process.exit(0)
}

const int = (v, d) => (v === undefined ? d : Math.max(0, Number.parseInt(v, 10)))
const quick = argv.quick
const cfg = {
  only: argv.only?.toUpperCase(),
  answers: int(argv.answers, quick ? 100 : 1000),
  paths: argv.path === 'both' ? ['one', 'two'] : argv.path ? [argv.path] : undefined,
  streams: int(argv.streams, quick ? 100 : 1000),
  tokens: int(argv.tokens, quick ? 30 : 100),
  rate: Number(argv.rate ?? 10),
  spreadMs: int(argv['spread-ms'], 3000),
  rounds: Math.max(1, int(argv.rounds, quick ? 1 : 3)),
  targets: argv.target === 'both' ? ['bare', 'flume'] : [argv.target],
  bareClient: argv['bare-client'] === 'http' ? 'http' : 'fetch',
  outputDir: resolve(argv.output ?? process.env.FLUME_OUTPUT_DIR ?? join(root, '.output')),
  warmup: int(argv.warmup, quick ? 100 : 1000),
  cpuProf: argv['cpu-prof'],
  waitIdleS: Number(argv['wait-idle'] ?? 0),
  timeoutS: int(argv.timeout, 1800),
}
for (const p of cfg.paths ?? []) if (p !== 'one' && p !== 'two') fail(`unknown --path ${p}`)
for (const t of cfg.targets) if (t !== 'bare' && t !== 'flume') fail(`unknown --target ${t}`)
if (cfg.only && cfg.only !== 'C' && cfg.only !== 'D') fail(`unknown --only ${argv.only}`)
if (cfg.targets.includes('flume') && !existsSync(join(cfg.outputDir, 'server/index.mjs'))) {
  fail(`no Flume build in ${cfg.outputDir} (npm run build, or --output DIR)`)
}

function fail(msg) {
  console.error(`[burst] ${msg}`)
  process.exit(1)
}
const log = (...a) => console.log('[burst]', ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))
process.on('exit', () => killTargets())
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killTargets()
    process.exit(130)
  })
}
setTimeout(() => {
  console.error(`[burst] overall timeout (${cfg.timeoutS} s)`)
  killTargets()
  process.exit(2)
}, cfg.timeoutS * 1000).unref()

// ---------------------------------------------------------------- one answer, as a new visitor
class StartError extends Error {
  constructor(code, body) {
    super(`${code}: ${JSON.stringify(body)?.slice(0, 300)}`)
    this.code = code
  }
}

/**
 * Starts one answer the way `path` says, opens its stream and reads it to [DONE].
 * Fills `a` (timings, result). Tokens' delays go to `latencies`.
 */
async function runAnswer(target, path, a, agent, latencies, lateness, signal) {
  const api = `${target.url}${target.apiPrefix}`
  const origin = target.url
  const title = `bench ${a.tag}`
  const content = `flume-bench ${a.tag}`
  a.t0 = performance.now()
  let cookie
  let streamUrl
  if (path === 'one') {
    const r = await requestJson(`${api}/chats`, { method: 'POST', agent, body: { title, content }, headers: { origin } })
    if (r.status !== 201) throw new StartError(`chat_${r.status}`, r.body)
    cookie = cookieOf(r)
    streamUrl = r.body?.streamUrl
  }
  else {
    const c = await requestJson(`${api}/chats`, { method: 'POST', agent, body: { title }, headers: { origin } })
    if (c.status !== 201) throw new StartError(`chat_${c.status}`, c.body)
    cookie = cookieOf(c)
    a.chatAt = performance.now()
    const m = await requestJson(`${api}/chats/${encodeURIComponent(c.body.id)}/messages`, { method: 'POST', agent, body: { content }, headers: { origin, cookie } })
    if (m.status !== 202) throw new StartError(`message_${m.status}`, m.body)
    streamUrl = m.body?.streamUrl
  }
  if (typeof streamUrl !== 'string') throw new StartError('no_stream_url', null)
  a.startedAt = performance.now()
  const own = new Samples(Math.max(16, a.plan.n))
  const sentAt = new Samples(Math.max(16, a.plan.n))
  a.result = await readStream({
    url: new URL(streamUrl, target.url).href, headers: { cookie }, agent, plan: a.plan, latencies: own, sentAt, signal,
    onOpen: () => {
      a.openAt = performance.now()
    },
  })
  // Tokens arrive in order: the k-th sample is token k. Lateness against the schedule a person
  // sees: token k due at the click + k / rate (the start's own delay included).
  const period = a.plan.rate > 0 ? 1000 / a.plan.rate : 0
  for (let k = 0; k < own.n; k++) {
    latencies.push(own.a[k])
    lateness.push(sentAt.a[k] + own.a[k] - (a.t0 + k * period))
  }
}
const cookieOf = r => [r.headers['set-cookie'] ?? []].flat().map(c => c.split(';')[0]).join('; ')

/**
 * Starts `count` answers: all at once (spreadMs 0) or answer i at i * spreadMs / count.
 * Measures the target's CPU from just before the first start to the last [DONE] + 300 ms.
 */
async function runLoad(target, up, { key, path, count, tokens, rate, spreadMs, measure }) {
  const agent = makeAgent()
  const latencies = new Samples(Math.max(1024, count * tokens))
  const lateness = new Samples(Math.max(1024, count * tokens))
  const seq = ++runSeq
  const answers = Array.from({ length: count }, (_, i) => {
    const tag = `${key}${seq}-${target.name}-${i}-${Math.random().toString(36).slice(2, 8)}`
    const plan = up.register(tag, { n: tokens, rate, burst: 64 })
    return { tag, plan, t0: NaN, chatAt: NaN, startedAt: NaN, openAt: NaN, result: null }
  })
  up.go(answers.map(a => a.plan)) // no barrier: each completion streams when it arrives
  if (measure) {
    target.windows++
    target.child.kill('SIGUSR2')
    await sleep(cfg.cpuProf ? 300 : 50) // the window (and the profiler) is open before the first request
  }
  const load = loadavg()
  const rss = rssSampler(target.pid, 100)
  const eld = monitorEventLoopDelay({ resolution: 5 })
  eld.enable()
  const ac = new AbortController()
  setMaxListeners(0, ac.signal) // one listener per reader
  const expectedMs = spreadMs + (rate > 0 ? (tokens / rate) * 1000 : 0)
  const limit = setTimeout(() => ac.abort(), expectedMs + 120_000)
  const cpu0 = cpuSeconds(target.pid)
  const sched0 = schedstat(target.pid)
  const machine0 = machineCpu()
  const bench0 = process.cpuUsage()
  const t0 = performance.now()
  const errors = new Map()
  await Promise.all(answers.map(async (a, i) => {
    if (spreadMs > 0) await sleep((i * spreadMs) / count)
    try {
      await runAnswer(target, path, a, agent, latencies, lateness, ac.signal)
    }
    catch (e) {
      const code = e instanceof StartError ? e.code : `start_${e.code ?? e.message}`
      errors.set(code, e.message)
      a.result = { ok: false, reason: code, tokens: 0 }
    }
  }))
  clearTimeout(limit)
  const tDone = performance.now()
  const cpuDone = cpuSeconds(target.pid)
  await sleep(300)
  const cpuEnd = cpuSeconds(target.pid)
  const schedEnd = schedstat(target.pid)
  const machineEnd = machineCpu()
  const benchCpu = process.cpuUsage(bench0)
  eld.disable()
  let server = null
  if (measure) {
    target.child.kill('SIGUSR2')
    const f = join(target.statsDir, `window-${target.windows}.json`)
    for (let i = 0; i < 300 && !existsSync(f); i++) await sleep(100)
    try {
      server = JSON.parse(readFileSync(f, 'utf8'))
    }
    catch { log(`  (no server stats for window ${target.windows})`) }
  }
  const rssState = rss.stop()
  const mem = memory(target.pid)
  up.forget(answers.map(a => a.plan))
  agent.destroy()

  const failures = {}
  for (const a of answers) if (!a.result?.ok) failures[a.result?.reason ?? 'none'] = (failures[a.result?.reason ?? 'none'] ?? 0) + 1
  const ok = answers.filter(a => a.result?.ok).length
  const dist = (f) => {
    const s = new Samples(count)
    for (const a of answers) {
      const v = f(a)
      if (Number.isFinite(v)) s.push(v)
    }
    const v = s.sorted()
    return { p50: q(v, 0.5), p99: q(v, 0.99), max: v.length ? v[v.length - 1] : NaN }
  }
  const lat = latencies.sorted()
  const late = lateness.sorted()
  const serverCpu = diff(cpuEnd, cpu0)
  const benchCpuS = (benchCpu.user + benchCpu.system) / 1e6
  return {
    key, target: target.name, path, count, tokens, rate, spreadMs,
    ok, failed: count - ok, failures, errors: Object.fromEntries([...errors].slice(0, 5)),
    wallSeconds: (tDone - t0) / 1000,
    cpu: {
      seconds: serverCpu,
      toLastDoneSeconds: diff(cpuDone, cpu0),
      user: cpuEnd && cpu0 ? cpuEnd.user - cpu0.user : NaN,
      system: cpuEnd && cpu0 ? cpuEnd.system - cpu0.system : NaN,
      perAnswerMs: (serverCpu * 1000) / count,
      runQueueWaitSeconds: schedEnd && sched0 ? schedEnd.waitS - sched0.waitS : NaN,
    },
    // Request start -> start response(s) done; -> stream open; -> first token received.
    startMs: dist(a => a.startedAt - a.t0),
    openMs: dist(a => a.openAt - a.t0),
    firstTokenMs: dist(a => a.result?.firstTokenAt - a.t0),
    tokenDelayMs: { samples: lat.length, p50: q(lat, 0.5), p90: q(lat, 0.9), p99: q(lat, 0.99), max: lat.length ? lat[lat.length - 1] : NaN },
    // Receipt - (start of the answer's first request + k / rate): the start's delay included.
    latenessMs: { p50: q(late, 0.5), p99: q(late, 0.99), max: late.length ? late[late.length - 1] : NaN },
    rss: { peakSampledMB: rssState.peakMB, hwmMB: mem?.hwmMB ?? NaN },
    server,
    profile: server?.profile,
    bench: { cpuSeconds: benchCpuS, loopDelayP99Ms: eld.percentile(99) / 1e6 },
    otherProcessesCpuSeconds: machineEnd && machine0 ? machineEnd.busyS - machine0.busyS - (serverCpu || 0) - benchCpuS : NaN,
    loadAvg: load[0],
  }
}
let runSeq = 0
const diff = (a, b) => (a && b ? a.total - b.total : NaN)
const q = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN)
const med = v => [...v].sort((x, y) => x - y)[Math.floor((v.length - 1) / 2)]

function fmt(v, d = 1) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-'
  if (!Number.isFinite(v)) return String(v)
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
}
const spread = (v, d = 2) => `${fmt(med(v), d)} [${v.map(x => fmt(x, d)).join(', ')}]`

// ---------------------------------------------------------------- report
function table(title, byTarget, rows) {
  const names = [...byTarget.keys()]
  const cols = names.map(n => (n === 'bare' ? `bare relay (${cfg.bareClient})` : 'Flume'))
  const cells = rows.map(([, f]) => names.map(n => f(byTarget.get(n))))
  const w0 = Math.max(...rows.map(r => r[0].length)) + 2
  const ws = cols.map((c, i) => Math.max(c.length, ...cells.map(r => r[i].length)) + 2)
  const lines = [`\n== ${title}`, ''.padEnd(w0) + cols.map((c, i) => c.padStart(ws[i])).join('')]
  rows.forEach(([label], j) => lines.push(label.padEnd(w0) + cells[j].map((c, i) => c.padStart(ws[i])).join('')))
  return lines.join('\n')
}

const commonRows = [
  ['answers ok / failed (each round)', l => l.map(r => `${r.ok}/${r.failed}`).join(' ')],
  ['failure reasons', l => Object.entries(Object.assign({}, ...l.map(r => r.failures))).map(([k, v]) => `${k}:${v}`).join(' ') || '-'],
  ['server CPU, s: median [rounds]', l => spread(l.map(r => r.cpu.seconds))],
  ['  user / system (median round)', (l) => {
    const r = l.toSorted((a, b) => a.cpu.seconds - b.cpu.seconds)[Math.floor((l.length - 1) / 2)]
    return `${fmt(r.cpu.user, 2)} / ${fmt(r.cpu.system, 2)}`
  }],
  ['server CPU per answer (ms)', l => fmt(med(l.map(r => r.cpu.perAnswerMs)), 2)],
  ['wall to last [DONE] (s)', l => spread(l.map(r => r.wallSeconds))],
  ['start request(s) done p50 / p99 (ms)', l => `${fmt(med(l.map(r => r.startMs.p50)), 0)} / ${fmt(med(l.map(r => r.startMs.p99)), 0)}`],
  ['start -> first token p50 / p99 (ms)', l => `${fmt(med(l.map(r => r.firstTokenMs.p50)), 0)} / ${fmt(med(l.map(r => r.firstTokenMs.p99)), 0)}`],
]
const tailRows = [
  ['server run-queue wait (s)', l => spread(l.map(r => r.cpu.runQueueWaitSeconds))],
  ['server loop delay p99 / max (ms)', l => l.map(r => (r.server ? `${fmt(r.server.loopDelayMs.p99, 0)}/${fmt(r.server.loopDelayMs.max, 0)}` : '-')).join(' ')],
  ['server GC total ms (count)', l => l.map(r => (r.server ? `${fmt(r.server.gc.ms, 0)} (${r.server.gc.count})` : '-')).join(' ')],
  ['server peak RSS (MB)', l => fmt(Math.max(...l.map(r => r.rss.peakSampledMB)), 0)],
  ['bench process CPU (s)', l => l.map(r => fmt(r.bench.cpuSeconds, 1)).join(' ')],
  ['other processes CPU (s)', l => l.map(r => fmt(Math.max(0, r.otherProcessesCpuSeconds), 1)).join(' ')],
  ['load average (1 min) at start', l => l.map(r => fmt(r.loadAvg, 2)).join(' ')],
]
const delayRows = [
  ['token delay p50 (ms)', l => spread(l.map(r => r.tokenDelayMs.p50), 1)],
  ['token delay p99 (ms)', l => spread(l.map(r => r.tokenDelayMs.p99), 1)],
  ['token delay max (ms)', l => spread(l.map(r => r.tokenDelayMs.max), 0)],
  ['token k lateness vs click + k/rate p50 (ms)', l => spread(l.map(r => r.latenessMs.p50), 0)],
  ['token k lateness vs click + k/rate p99 (ms)', l => spread(l.map(r => r.latenessMs.p99), 0)],
]

/** Per round, Flume / bare of the same round; the median and every round. */
function paired(byTarget, f) {
  const f1 = byTarget.get('flume')
  const b = byTarget.get('bare')
  if (!f1 || !b) return undefined
  const v = f1.map((r, i) => f(r) / f(b[i]))
  return { median: med(v), rounds: v }
}

// ---------------------------------------------------------------- main
async function main() {
  const fd = openFileLimit()
  const need = Math.max(cfg.answers, cfg.streams) * 2 + 512
  log(`node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GB RAM, load ${loadavg().map(v => v.toFixed(2)).join(' ')}`)
  if (fd.soft < need) fail(`ulimit -n is ${fd.soft}: need about ${need}`)
  if (cfg.targets.includes('flume')) log(`Flume build: ${cfg.outputDir}`)
  const up = await startUpstream({ log })
  const results = { startedAt: new Date().toISOString(), node: process.version, cores: cpus().length, config: cfg, scenarios: {}, checks: [] }
  const plans = []
  if (!cfg.only || cfg.only === 'C') {
    for (const path of cfg.paths ?? ['one', 'two']) {
      plans.push({ key: 'C', path, count: cfg.answers, tokens: 1, rate: 0, spreadMs: 0,
        title: `Scenario C (${path === 'one' ? 'one request: POST /chats {content}' : 'two requests: POST /chats, POST …/messages'}): ${cfg.answers} new answers started at once, 1 token each, read to [DONE]` })
    }
  }
  if (!cfg.only || cfg.only === 'D') {
    for (const path of cfg.paths ?? ['one']) {
      plans.push({ key: 'D', path, count: cfg.streams, tokens: cfg.tokens, rate: cfg.rate, spreadMs: cfg.spreadMs,
        title: `Scenario D (${path === 'one' ? 'one-request start' : 'two-request start'}): ${cfg.streams} streams x ${cfg.tokens} tokens at ${cfg.rate} tokens/s, starts spread evenly over ${cfg.spreadMs / 1000} s (no barrier)` })
    }
  }
  let code = 0
  for (const sc of plans) {
    const started = []
    const byTarget = new Map()
    try {
      for (const t of cfg.targets) {
        const profPrefix = cfg.cpuProf ? join(resultsDir, `burst-${t}-${sc.key}${sc.path}-${new Date().toISOString().replace(/[:.]/g, '-')}`) : undefined
        if (profPrefix) mkdirSync(resultsDir, { recursive: true })
        const target = t === 'flume'
          ? await startFlume({ outputDir: cfg.outputDir, upstreamUrl: up.url, profPrefix, env: { FLUME_RATE_LIMITS: 'off' } })
          : await startBare({ upstreamUrl: up.url, bareClient: cfg.bareClient, profPrefix })
        started.push(target)
        byTarget.set(t, [])
        if (cfg.warmup) {
          for (const path of ['one', 'two']) {
            const w = await runLoad(target, up, { key: 'w', path, count: cfg.warmup, tokens: 1, rate: 0, spreadMs: 0, measure: false })
            log(`${sc.key}/${sc.path} ${t}: warm-up (${path}) ${w.ok}/${w.count} ok${w.failed ? ` ${JSON.stringify(w.failures)} ${JSON.stringify(w.errors)}` : ''}`)
          }
        }
      }
      for (let k = 0; k < cfg.rounds; k++) {
        for (const target of started) {
          if (cfg.waitIdleS > 0) {
            const t0 = Date.now()
            const busy = await waitForQuiet({ timeoutMs: cfg.waitIdleS * 1000 })
            if (Date.now() - t0 > 4000) log(`  waited ${((Date.now() - t0) / 1000).toFixed(0)} s for a quiet machine (busy ${(busy * 100).toFixed(0)}%)`)
          }
          const r = await runLoad(target, up, { ...sc, measure: true })
          byTarget.get(target.name).push(r)
          log(`  ${sc.key}/${sc.path} ${target.name} round ${k + 1}/${cfg.rounds}: ${r.ok}/${r.count} ok, CPU ${fmt(r.cpu.seconds, 2)} s, wall ${fmt(r.wallSeconds, 2)} s`
            + (sc.key === 'D' ? `, token delay p50 ${fmt(r.tokenDelayMs.p50, 1)} p99 ${fmt(r.tokenDelayMs.p99, 1)} max ${fmt(r.tokenDelayMs.max, 0)} ms` : `, first token p99 ${fmt(r.firstTokenMs.p99, 0)} ms`)
            + ` (load ${r.loadAvg.toFixed(2)}, run-queue wait ${fmt(r.cpu.runQueueWaitSeconds, 2)} s)`)
          if (r.failed) {
            log(`  failures: ${JSON.stringify(r.failures)} ${JSON.stringify(r.errors)}`)
            log(`  last server output:\n${target.logs.get().split('\n').slice(-10).join('\n')}`)
          }
        }
      }
    }
    finally {
      for (const t of started) await t.stop()
    }
    const rows = [...commonRows, ...(sc.key === 'D' ? delayRows : []), ...tailRows]
    console.log(table(`${sc.title}; ${cfg.rounds} round(s)`, byTarget, rows))
    const checks = []
    const cpu = paired(byTarget, r => r.cpu.seconds)
    const f = byTarget.get('flume')
    if (f) checks.push({ pass: f.every(r => r.failed === 0), text: `${sc.key}/${sc.path}: zero failed Flume answers (${f.map(r => r.failed).join(', ')})` })
    if (cpu) checks.push({ pass: cpu.median <= 2, text: `${sc.key}/${sc.path}: Flume CPU within 2x of the bare relay: ${fmt(cpu.median, 2)}x [rounds ${cpu.rounds.map(x => fmt(x, 2)).join(', ')}]`, info: sc.key !== 'C' })
    if (sc.key === 'D') {
      const p99 = paired(byTarget, r => r.tokenDelayMs.p99)
      if (p99) checks.push({ pass: p99.median <= 3, text: `D/${sc.path}: Flume p99 token delay within 3x the bare relay's: ${fmt(p99.median, 2)}x [rounds ${p99.rounds.map(x => fmt(x, 2)).join(', ')}]` })
      // Token delay starts when the upstream sends: a slow start only delays the stream's
      // schedule, so it shows here (and in start -> first token), not above.
      const late = paired(byTarget, r => r.latenessMs.p99)
      if (late) checks.push({ info: true, text: `D/${sc.path}: Flume p99 lateness against the click's schedule: ${fmt(late.median, 2)}x the bare relay's [rounds ${late.rounds.map(x => fmt(x, 2)).join(', ')}]` })
    }
    for (const c of checks) {
      console.log(`  [${c.info ? 'info' : c.pass ? 'PASS' : 'FAIL'}] ${c.text}`)
      if (!c.pass && !c.info) code = 1
    }
    if (cfg.cpuProf) {
      console.log('  (profiling was on: CPU figures are inflated by the profiler; compare profiles)')
      for (const [t, list] of byTarget) {
        const r = list[list.length - 1]
        if (r?.profile && existsSync(r.profile)) console.log(`\n-- ${t} CPU profile, ${sc.key}/${sc.path}, last round (${r.profile}) --\n${summarize(JSON.parse(readFileSync(r.profile, 'utf8')), 25)}`)
      }
    }
    results.scenarios[`${sc.key}-${sc.path}`] = { title: sc.title, runs: Object.fromEntries(byTarget) }
    results.checks.push(...checks)
  }
  await up.close()
  results.finishedAt = new Date().toISOString()
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `burst-${results.startedAt.replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`\nNotes: server CPU = utime+stime of the target process from just before the first request to the last [DONE]
+ 300 ms. Token delay = client receipt - upstream send (same clock; the bench process's own loop delay is in it too).
${cpus().length} cores are shared by the bench (clients + upstream), the server and anything else on the machine.
results: ${file}`)
  return code
}

main().then(code => process.exit(code), (e) => {
  console.error('[burst] failed:', e?.stack ?? e)
  killTargets()
  process.exit(1)
})
