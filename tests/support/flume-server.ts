import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serverEntry } from './paths'
import { createTestDatabase, dropTestDatabase, usingPostgres } from './postgres'

export interface FlumeServer {
  url: string
  port: number
  dataDir: string
  /** The server's PostgreSQL database (in the `e2e-postgres` project, or when `env` gives one). */
  databaseUrl?: string
  /** Everything the server printed, for debugging failed tests. */
  logs: () => string
  stop: () => Promise<void>
  /** Kills the process without letting it clean up, as a crash would. */
  kill: () => Promise<void>
  /** Sends a signal (e.g. SIGTERM, as a container runtime does) without waiting. */
  signal: (name: NodeJS.Signals) => void
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** In the `e2e-postgres` project, a given data directory's database: a restart that keeps its data directory keeps its database too. */
const databases = new Map<string, Promise<string>>()

/**
 * Starts the built server (`.output`) on 127.0.0.1 with its own data directory, and in the
 * `e2e-postgres` project its own PostgreSQL database (dropped at `stop()`; with `opts.dataDir`,
 * the same one for every server started on it, dropped at the end of the run).
 * `env` is passed on top of a clean LLM configuration (no key, no base URL: the demo model);
 * a `DATABASE_URL` in it is used as it is.
 */
export async function startFlume(env: Record<string, string | undefined> = {}, opts: { dataDir?: string } = {}): Promise<FlumeServer> {
  const port = await freePort()
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'flume-test-'))
  let databaseUrl = env.DATABASE_URL
  const ownDatabase = usingPostgres && !('DATABASE_URL' in env)
  if (ownDatabase) {
    let made = databases.get(dataDir)
    if (!made) databases.set(dataDir, made = createTestDatabase())
    databaseUrl = await made
  }
  const child: ChildProcess = spawn(process.execPath, [serverEntry], {
    env: {
      ...process.env,
      OPENAI_API_KEY: undefined,
      OPENAI_BASE_URL: undefined,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      FLUME_DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      // Titles make an extra upstream call that would take the fake's scripted answers;
      // tests of titles turn them on.
      FLUME_TITLES: 'off',
      // A suite makes hundreds of answers from one address; tests of the limits turn them on.
      FLUME_RATE_LIMITS: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const collect = (d: Buffer) => {
    out += d
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Flume exited early (${child.exitCode}):\n${out}`)
    try {
      const res = await fetch(`${url}/api/health`)
      if (res.ok) break
    }
    catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`Flume did not start in time:\n${out}`)
    }
    await new Promise(r => setTimeout(r, 100))
  }
  const exited = new Promise<number | null>(r => child.once('exit', code => r(code)))
  let removed = false
  const cleanup = async () => {
    if (removed || opts.dataDir) return
    removed = true
    rmSync(dataDir, { recursive: true, force: true })
    if (ownDatabase) {
      databases.delete(dataDir)
      await dropTestDatabase(databaseUrl!)
    }
  }
  return {
    url,
    port,
    dataDir,
    databaseUrl,
    logs: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
      await cleanup()
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL')
      await exited
    },
    signal(name) {
      if (child.exitCode === null) child.kill(name)
    },
    exited,
  }
}
