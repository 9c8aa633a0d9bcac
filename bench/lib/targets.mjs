// The two servers a relay benchmark compares, as child processes: a Flume production build and
// the bare relay (bench/bare-relay.mjs). Both load lib/server-preload.mjs (loop delay, GC, memory
// and the CPU profiler per measurement window, toggled by SIGUSR2) and run with the V8 flags
// `npm start` uses. Used by relay.mjs and burst.mjs.

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { makeAgent, requestJson } from './client.mjs'
import { freePort } from './net.mjs'
import { MODEL } from './upstream.mjs'

const benchDir = resolve(import.meta.dirname, '..')
const preload = ['--import', join(benchDir, 'lib/server-preload.mjs')]
/**
 * The Node/V8 flags of `npm start`, read from package.json's start script so the benches run
 * what production runs (without `--env-file*`: the benches set the environment), for both
 * servers alike. BENCH_NODE_FLAGS (space-separated) replaces them, to compare settings.
 */
export const serverFlags = process.env.BENCH_NODE_FLAGS !== undefined
  ? process.env.BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean)
  : startScriptFlags()

function startScriptFlags() {
  const { scripts } = JSON.parse(readFileSync(resolve(benchDir, '../package.json'), 'utf8'))
  const words = scripts.start.split(/\s+/)
  const node = words.indexOf('node')
  const flags = []
  for (const w of words.slice(node + 1)) {
    if (!w.startsWith('-')) break
    if (!w.startsWith('--env-file')) flags.push(w)
  }
  return flags
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set()
const tempDirs = new Set()

/** Kills every server started here (on exit, or when the bench gives up). */
export function killTargets(signal = 'SIGKILL') {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill(signal)
      }
      catch { /* gone */ }
    }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
  tempDirs.clear()
}

function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

function ring(max = 64 * 1024) {
  let s = ''
  return {
    add(d) {
      s += d
      if (s.length > max) s = s.slice(-max)
    },
    get: () => s,
  }
}

function track(child, logs) {
  children.add(child)
  child.stdout?.on('data', d => logs.add(d))
  child.stderr?.on('data', d => logs.add(d))
  const exited = new Promise(r => child.once('exit', () => {
    children.delete(child)
    r()
  }))
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
  }
}

async function waitHealthy(url, child, logs, what) {
  const agent = makeAgent()
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited early (${child.exitCode ?? child.signalCode}):\n${logs.get()}`)
    try {
      const r = await requestJson(url, { agent, timeoutMs: 2000 })
      if (r.status === 200) break
    }
    catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${what} did not become healthy:\n${logs.get()}`)
    await new Promise(r => setTimeout(r, 100))
  }
  agent.destroy()
}

/**
 * Flume from the build in `outputDir` (its server/index.mjs), with its own data directory
 * (SQLite), against `upstreamUrl`. `env` adds to (and overrides) the bench's settings.
 */
export async function startFlume({ outputDir, upstreamUrl, profPrefix, env = {} }) {
  const dataDir = tempDir('flume-bench-')
  const statsDir = tempDir('flume-bench-stats-')
  const port = await freePort()
  const logs = ring()
  const child = spawn(process.execPath, [...serverFlags, ...preload, join(outputDir, 'server/index.mjs')], {
    cwd: dirname(outputDir),
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      NITRO_HOST: '127.0.0.1',
      NITRO_PORT: String(port),
      FLUME_DATA_DIR: dataDir,
      OPENAI_BASE_URL: upstreamUrl,
      OPENAI_API_KEY: 'bench',
      FLUME_UPSTREAM_MAX_RETRIES: '0',
      // Measures the relay: no extra title request after each first answer.
      FLUME_TITLES: 'off',
      // Thousands of answers from one address: the abuse limits would refuse most of them.
      FLUME_RATE_LIMITS: 'off',
      FLUME_MAX_STREAMS: '0',
      FLUME_MODEL: process.env.FLUME_MODEL ?? MODEL,
      FLUME_STALL_TIMEOUT_MS: process.env.FLUME_STALL_TIMEOUT_MS ?? '180000',
      BENCH_STATS_DIR: statsDir,
      ...(profPrefix ? { BENCH_CPU_PROF_PREFIX: profPrefix } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stop = track(child, logs)
  const url = `http://127.0.0.1:${port}`
  await waitHealthy(`${url}/api/health`, child, logs, 'Flume')
  return {
    name: 'flume', pid: child.pid, url, apiPrefix: '/api', logs, child, statsDir, windows: 0,
    async stop() {
      await stop()
      rmSync(dataDir, { recursive: true, force: true })
      tempDirs.delete(dataDir)
    },
  }
}

/** The bare relay (bench/bare-relay.mjs); `bareClient` fetch|http is its upstream transport. */
export async function startBare({ upstreamUrl, bareClient = 'fetch', profPrefix }) {
  const logs = ring()
  const statsDir = tempDir('flume-bench-stats-')
  const child = spawn(process.execPath, [...serverFlags, ...preload, join(benchDir, 'bare-relay.mjs')], {
    cwd: benchDir,
    env: { ...process.env, UPSTREAM_URL: upstreamUrl, PORT: '0', BARE_CLIENT: bareClient, BENCH_STATS_DIR: statsDir, ...(profPrefix ? { BENCH_CPU_PROF_PREFIX: profPrefix } : {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const stop = track(child, logs)
  const port = await new Promise((resolvePort, reject) => {
    let out = ''
    const onData = (d) => {
      out += d
      const m = /LISTENING (\d+)/.exec(out)
      if (m) {
        child.stdout.off('data', onData)
        resolvePort(Number(m[1]))
      }
    }
    child.stdout.on('data', onData)
    child.once('exit', c => reject(new Error(`bare relay exited (${c}):\n${logs.get()}`)))
  })
  const url = `http://127.0.0.1:${port}`
  await waitHealthy(`${url}/health`, child, logs, 'bare relay')
  return {
    name: 'bare', pid: child.pid, url, apiPrefix: '', logs, child, statsDir, windows: 0,
    async stop() {
      child.stdin.end()
      await stop()
    },
  }
}
