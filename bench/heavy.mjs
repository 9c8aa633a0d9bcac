// A heavy user's data stays fast (issue 9, item 4): 5,000 chats and 100,000 messages for one
// identity, seeded straight into a fresh database (bench/seed.mjs), served by the production build.
//
//   npm run bench:heavy                                    # SQLite; uses .output (or FLUME_OUTPUT_DIR)
//   npm run bench:heavy -- --database-url postgres://postgres@127.0.0.1:55432/postgres   # also PostgreSQL (a fresh database is made on that server)
//   npm run bench:heavy -- --chats 5000 --messages 100000 --long 2000 --runs 9
//
// Prints, as the median of --runs requests after a warm-up: the home page's server render for that
// user and for a new visitor (target within 3x), the chat list's first page (time, bytes; the whole
// list too, for comparison), search for several queries (target within 50 ms each), and opening the
// chat with 2,000 messages (server render and its bytes, target within 1 s; the API answer too).

import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { freePort } from './lib/net.mjs'
import { serverFlags } from './lib/targets.mjs'
import { newId, seedPostgres, seedSqlite } from './seed.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    'chats': { type: 'string', default: '5000' },
    'messages': { type: 'string', default: '100000' },
    'long': { type: 'string', default: '2000' },
    'runs': { type: 'string', default: '9' },
    'database-url': { type: 'string', default: process.env.FLUME_BENCH_DATABASE_URL ?? '' },
    'help': { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log('usage: npm run bench:heavy -- [--chats 5000] [--messages 100000] [--long 2000] [--runs 9] [--database-url postgres://…/any_db]\n'
    + 'With --database-url (or FLUME_BENCH_DATABASE_URL) the same is measured on PostgreSQL too, in a database made for it and dropped after.\n'
    + 'Uses the build in .output (or FLUME_OUTPUT_DIR).')
  process.exit(0)
}
const RUNS = Math.max(1, Number(args.runs) || 9)
const SEED = { chats: Number(args.chats), messages: Number(args.messages), long: Number(args.long) }
const QUERIES = ['matterhorn', 'river mountain', 'garden', 'Поездка', 'ΘΑΛΑΣΣΑ', 'snake_case', '50%', 'no chat says this', 'py']
const SECRET = 'bench-heavy-session-secret-0123456789abcdef'

const outputDir = resolve(root, process.env.FLUME_OUTPUT_DIR || '.output')
const serverEntry = join(outputDir, 'server/index.mjs')
if (!existsSync(serverEntry)) {
  console.error(`No build at ${serverEntry}: run \`npm run build\` first (or set FLUME_OUTPUT_DIR).`)
  process.exit(1)
}

/** A session cookie for `owner`, as server/http/identity.ts signs one (v1.<owner>.<issued>.<hmac>). */
function cookieFor(owner) {
  const payload = `v1.${owner}.${Math.floor(Date.now() / 1000).toString(36)}`
  return `flume_session=${payload}.${createHmac('sha256', SECRET).update(payload).digest('base64url')}`
}

async function startServer(env) {
  const port = await freePort()
  const child = spawn(process.execPath, [...serverFlags, serverEntry], {
    cwd: dirname(outputDir),
    env: { ...process.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), NITRO_HOST: '127.0.0.1', NITRO_PORT: String(port), FLUME_SESSION_SECRET: SECRET, FLUME_RATE_LIMITS: 'off', FLUME_TITLES: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let logs = ''
  child.stdout.on('data', (d) => {
    logs += d
  })
  child.stderr.on('data', (d) => {
    logs += d
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited:\n${logs}`)
    try {
      if ((await fetch(`${url}/api/health`)).ok) break
    }
    catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`the server did not come up:\n${logs}`)
    await new Promise(r => setTimeout(r, 100))
  }
  return {
    url,
    logs: () => logs,
    async stop() {
      child.kill('SIGTERM')
      await new Promise(r => child.once('exit', r))
    },
  }
}

/** Median time (ms) and bytes of GET `path`, after two warm-up requests; fails on a non-2xx. */
async function measure(server, path, cookie) {
  const once = async () => {
    const started = performance.now()
    const res = await fetch(`${server.url}${path}`, { headers: { cookie, 'accept-encoding': 'identity' } })
    const body = await res.arrayBuffer()
    const ms = performance.now() - started
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${new TextDecoder().decode(body).slice(0, 300)}`)
    return { ms, bytes: body.byteLength, body }
  }
  await once()
  await once()
  const runs = []
  for (let i = 0; i < RUNS; i++) runs.push(await once())
  runs.sort((a, b) => a.ms - b.ms)
  return runs[Math.floor(runs.length / 2)]
}

const fmtMs = ms => `${ms.toFixed(1)} ms`
const fmtBytes = b => (b >= 10_000 ? `${(b / 1000).toFixed(0)} kB` : `${b} B`)
const verdict = ok => (ok ? 'ok' : 'OVER TARGET')

async function run(label, seedInto, serverEnv) {
  const owner = newId()
  const started = performance.now()
  const seeded = await seedInto({ owner, ...SEED })
  console.log(`\n## ${label}: seeded ${seeded.chats} chats, ${seeded.messages} messages in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const server = await startServer(serverEnv)
  try {
    const heavy = cookieFor(owner)
    const fresh = cookieFor(newId())
    const rows = []
    const row = (what, m, target) => rows.push([what, fmtMs(m.ms), fmtBytes(m.bytes), target ?? ''])

    const homeHeavy = await measure(server, '/', heavy)
    const homeNew = await measure(server, '/', fresh)
    const ratio = homeHeavy.ms / homeNew.ms
    row('home page, this user', homeHeavy)
    row('home page, a new visitor', homeNew, `${ratio.toFixed(2)}x (target within 3x: ${verdict(ratio <= 3)})`)

    const firstPage = await measure(server, '/api/chats?limit=50', heavy)
    row('chat list, first page (limit=50)', firstPage)
    const { next } = JSON.parse(new TextDecoder().decode(firstPage.body))
    row('chat list, second page (before=next)', await measure(server, `/api/chats?limit=50&before=${encodeURIComponent(next)}`, heavy))
    row('chat list, every chat (no limit)', await measure(server, '/api/chats', heavy))

    for (const q of QUERIES) {
      const m = await measure(server, `/api/chats?q=${encodeURIComponent(q)}&limit=50`, heavy)
      const found = JSON.parse(new TextDecoder().decode(m.body)).chats.length
      row(`search "${q}" (limit=50: ${found}${found === 50 ? '+' : ''})`, m, `target 50 ms: ${verdict(m.ms <= 50)}`)
    }

    const longId = seeded.longChatId
    const page = await measure(server, `/chat/${longId}`, heavy)
    row(`open the chat of ${SEED.long} messages (server render)`, page, `target 1 s: ${verdict(page.ms <= 1000)}`)
    row('  its API answer, paged (limit=100)', await measure(server, `/api/chats/${longId}?limit=100`, heavy))
    row('  its API answer, every message (no limit)', await measure(server, `/api/chats/${longId}`, heavy))

    const widths = [0, 1, 2].map(i => Math.max(...rows.map(r => r[i].length)))
    for (const r of rows) console.log(`${r[0].padEnd(widths[0])}  ${r[1].padStart(widths[1])}  ${r[2].padStart(widths[2])}  ${r[3]}`)
  }
  finally {
    await server.stop()
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'flume-heavy-'))
try {
  console.log(`Heavy user bench: ${SEED.chats} chats, ${SEED.messages} messages (one chat of ${SEED.long}); median of ${RUNS} requests; build ${outputDir}`)
  await run('SQLite', options => seedSqlite(dataDir, options), { FLUME_DATA_DIR: dataDir })
  if (args['database-url']) {
    const { default: pg } = await import('pg')
    const admin = new pg.Client({ connectionString: args['database-url'] })
    await admin.connect()
    const name = `flume_heavy_${process.pid}`
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'`)
    const url = new URL(args['database-url'])
    url.pathname = `/${name}`
    try {
      await run('PostgreSQL', options => seedPostgres(url.href, options), { FLUME_DATA_DIR: dataDir, DATABASE_URL: url.href })
    }
    finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }
  }
}
finally {
  rmSync(dataDir, { recursive: true, force: true })
}
