// `npm run preview:cloudflare`: the cloudflare-module build (`npm run build:cloudflare`) in workerd
// through `wrangler dev`, local and offline, on PORT (default 8787), with a local D1 database kept in
// FLUME_WRANGLER_STATE (default .wrangler/state) and migrated by the worker before it says ready.
// OPENAI_BASE_URL, OPENAI_API_KEY and FLUME_* go from this environment to the worker.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const output = resolve(process.env.FLUME_OUTPUT_DIR || '.output-cloudflare')
const config = join(output, 'server', 'wrangler.json')
if (!existsSync(config)) {
  console.error(`[flume] ${config} is missing: run npm run build:cloudflare first.`)
  process.exit(1)
}
const state = resolve(process.env.FLUME_WRANGLER_STATE || '.wrangler/state')
mkdirSync(state, { recursive: true })
const port = process.env.PORT || '8787'
const host = process.env.HOST || '127.0.0.1'

// The worker's variables, in a file (mode 600) rather than on the command line, where `ps` shows them.
const local = new Set(['FLUME_OUTPUT_DIR', 'FLUME_BUILD_DIR', 'FLUME_WRANGLER_STATE', 'FLUME_D1_DATABASE_ID'])
const vars = {}
for (const [key, value] of Object.entries(process.env)) {
  if (value && (key === 'OPENAI_API_KEY' || key === 'OPENAI_BASE_URL' || (key.startsWith('FLUME_') && !local.has(key)))) vars[key] = value
}
// The worker has no disk to keep a generated cookie secret: one is made here once, kept with the local state.
if (!vars.FLUME_SESSION_SECRET) {
  const file = join(state, 'session-secret')
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 })
  vars.FLUME_SESSION_SECRET = readFileSync(file, 'utf8').trim()
}
const envFile = join(state, 'flume.env')
writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n') + '\n', { mode: 0o600 })
chmodSync(envFile, 0o600)

const wrangler = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url))
// Its own process group (wrangler starts workerd and esbuild): a signal here ends all of them.
const child = spawn(process.execPath, [wrangler, 'dev', '--config', config, '--local', '--ip', host, '--port', port,
  '--persist-to', state, '--env-file', envFile, '--show-interactive-dev-session=false', '--live-reload=false'], {
  stdio: 'inherit',
  detached: true,
  env: {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    // Offline: no download of the Request.cf placeholder from workers.cloudflare.com.
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  },
})
const stop = (signal) => {
  try {
    process.kill(-child.pid, signal)
  }
  catch { /* already gone */ }
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stop(signal))
process.on('exit', () => stop('SIGTERM'))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))

// The worker migrates D1 on its first database use (server/storage/db.ts): one request does it
// before anyone else's.
const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
const deadline = Date.now() + 90_000
while (Date.now() < deadline && child.exitCode === null) {
  try {
    const res = await fetch(`${origin}/api/chats`)
    if (res.ok) {
      console.log(`[flume] ready on ${origin} (local D1 migrated, state in ${state})`)
      break
    }
  }
  catch { /* not listening yet */ }
  await new Promise(r => setTimeout(r, 250))
}
