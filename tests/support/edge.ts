import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { freePort } from './flume-server'
import { root } from './paths'

/** Where the `edge` project builds the Cloudflare worker (apart from the Node build). */
export const edgeOutputDir = resolve(root, process.env.FLUME_EDGE_OUTPUT_DIR || '.output-cloudflare')
export const edgeBuildDir = resolve(root, process.env.FLUME_EDGE_BUILD_DIR || '.nuxt-cloudflare')
const wrangler = resolve(root, 'node_modules/wrangler/bin/wrangler.js')

export interface EdgeServer {
  url: string
  /** wrangler's local state (the D1 database): a second server started on it shares the database, as another isolate would. */
  state: string
  logs: () => string
  /** Runs SQL on the local D1 database from outside the worker (another isolate, as far as the worker can tell). */
  sql: (command: string) => unknown[]
  stop: () => Promise<void>
}

/**
 * `npm run preview:cloudflare` on a free port: the worker in workerd, with its own local D1
 * database (or `opts.state`'s). Stopped by process group: wrangler runs workerd and esbuild.
 */
export async function startEdge(env: Record<string, string>, opts: { state?: string } = {}): Promise<EdgeServer> {
  const port = await freePort()
  const state = opts.state ?? mkdtempSync(join(tmpdir(), 'flume-edge-'))
  const child: ChildProcess = spawn(process.execPath, [resolve(root, 'scripts/preview-cloudflare.mjs')], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      OPENAI_API_KEY: undefined,
      OPENAI_BASE_URL: undefined,
      FLUME_TITLES: 'off',
      // As for the Node servers under test (flume-server.ts): the suite makes many answers from one address.
      FLUME_RATE_LIMITS: 'off',
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      FLUME_OUTPUT_DIR: edgeOutputDir,
      FLUME_WRANGLER_STATE: state,
    },
  })
  let out = ''
  const collect = (d: Buffer) => {
    out += d
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const exited = new Promise<void>(r => child.once('exit', () => r()))
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal)
    }
    catch { /* gone */ }
  }
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      kill('SIGTERM')
      const timer = setTimeout(() => kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    // The worker's own processes, should any outlive the script.
    kill('SIGKILL')
    if (!opts.state) rmSync(state, { recursive: true, force: true })
  }
  const deadline = Date.now() + 90_000
  while (!out.includes('[flume] ready on')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`wrangler dev did not start:\n${out}`)
    }
    await new Promise(r => setTimeout(r, 100))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    logs: () => out,
    sql(command) {
      const result = spawnSync(process.execPath, [wrangler, 'd1', 'execute', 'flume', '--local', '--persist-to', state,
        '--config', join(edgeOutputDir, 'server/wrangler.json'), '--json', '--command', command], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
      })
      if (result.status !== 0) throw new Error(`wrangler d1 execute failed: ${result.stdout}\n${result.stderr}`)
      return (JSON.parse(result.stdout) as { results: unknown[] }[]).flatMap(r => r.results)
    },
    stop,
  }
}
