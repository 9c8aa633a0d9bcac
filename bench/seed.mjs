// A heavy user's history, written straight into a fresh database: the rows the app would have
// written (chats, messages in order, final answers with usage), through the app's own migrations
// (server/storage/migrations.ts, loaded with Node's type stripping), so triggers and indexes are
// the real ones. Used by bench/heavy.mjs; also runs alone:
//
//   node bench/seed.mjs --data-dir /tmp/heavy                    # SQLite: <dir>/flume.sqlite
//   node bench/seed.mjs --database-url postgres://…/fresh_db      # PostgreSQL (an empty database)
//   node bench/seed.mjs --chats 5000 --messages 100000 --long 2000 --owner <id>
//
// Prints the owner id (the bench signs a session cookie for it) and the id of the long chat.

import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const DAY_MS = 86_400_000

/** Ids as server/utils/ids.ts makes them: 128 random bits, url-safe. */
export const newId = () => randomBytes(16).toString('base64url')

/** A small deterministic generator (mulberry32), so that two runs seed the same texts. */
function random(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = ('the a of to and in is it that for on with as was at by this be from or an are not have but what all were when we there can '
  + 'river mountain kitchen garden server database question answer stream token model cache index search paper letter music '
  + 'travel budget recipe bread coffee python function list table code error window network cookie session garden forest '
  + 'summer winter morning evening careful quickly simple different important small large early later often never always').split(' ')
const RARE = ['Matterhorn', 'zeppelin', 'Éclair', 'Поездка', 'ΘΑΛΑΣΣΑ', 'snake_case', '50%', '東京', 'quasar', 'fjord']

function sentence(rand, words) {
  const out = []
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)])
  // Now and then a word few texts have, for searches that find a handful of chats.
  if (rand() < 0.02) out.splice(Math.floor(rand() * out.length), 0, RARE[Math.floor(rand() * RARE.length)])
  const s = out.join(' ')
  return `${s[0].toUpperCase()}${s.slice(1)}.`
}

function question(rand) {
  return Array.from({ length: 1 + Math.floor(rand() * 2) }, () => sentence(rand, 6 + Math.floor(rand() * 14))).join(' ')
}

/** A markdown answer of a few hundred characters: paragraphs, sometimes a list or a code block. */
function answer(rand) {
  const parts = [Array.from({ length: 2 + Math.floor(rand() * 3) }, () => sentence(rand, 8 + Math.floor(rand() * 12))).join(' ')]
  const kind = rand()
  if (kind < 0.25) parts.push(Array.from({ length: 3 }, () => `- ${sentence(rand, 4 + Math.floor(rand() * 6))}`).join('\n'))
  else if (kind < 0.35) parts.push('```python\ndef unique(items):\n    seen = set()\n    return [x for x in items if not (x in seen or seen.add(x))]\n```')
  if (rand() < 0.5) parts.push(sentence(rand, 10 + Math.floor(rand() * 10)))
  return parts.join('\n\n')
}

/**
 * The rows: `chats` chats of `owner`, `messages` messages in all (questions and answers in turn),
 * one of the chats holding `long` of them. Updated over the last year, most recent first.
 */
export function* seedRows({ owner, chats = 5000, messages = 100_000, long = 2000, seed = 1, now = Date.now() }) {
  const rand = random(seed)
  const others = Math.max(chats - 1, 1)
  const perChat = Math.max(2, Math.floor((messages - long) / others / 2) * 2)
  let left = messages - long
  for (let c = 0; c < chats; c++) {
    // The long chat is the 10th most recent: open from the list, not the very first.
    const isLong = c === 9
    const count = isLong ? long : Math.min(left, c === chats - 1 ? left : perChat)
    if (!isLong) left -= count
    const updated = now - c * (365 * DAY_MS / chats) - Math.floor(rand() * 1000)
    const created = updated - Math.floor(count * 60_000 * (0.5 + rand()))
    const id = newId()
    const first = question(rand)
    const title = isLong ? 'A very long conversation' : first.slice(0, 60)
    const rows = []
    for (let p = 1; p <= count; p++) {
      const role = p % 2 ? 'user' : 'assistant'
      const content = role === 'user' ? (p === 1 ? first : question(rand)) : answer(rand)
      const at = created + Math.floor((updated - created) * (p / Math.max(count, 1)))
      rows.push([newId(), id, owner, p, role, content, 'done', null, null, role === 'assistant' ? 'bench-model' : null,
        role === 'assistant' ? 20 + p : null, role === 'assistant' ? Math.ceil(content.length / 4) : null, at, role === 'assistant' ? at : null])
    }
    yield { chat: [id, owner, title, created, updated, null, null, null, null], messages: rows, isLong }
  }
}

const CHAT_COLUMNS = 'id, owner, title, created_at, updated_at, model, system_prompt, temperature, title_source'
const MESSAGE_COLUMNS = 'id, chat_id, owner, position, role, content, status, error_code, error_message, model, prompt_tokens, completion_tokens, created_at, heartbeat_at'

async function migrations() {
  return await import('../server/storage/migrations.ts')
}

/** Seeds a fresh SQLite database in `dataDir` (flume.sqlite), migrated as the app migrates it. */
export async function seedSqlite(dataDir, options) {
  const { DatabaseSync } = await import('node:sqlite')
  const { MIGRATIONS, forDialect } = await migrations()
  mkdirSync(dataDir, { recursive: true })
  const db = new DatabaseSync(join(dataDir, 'flume.sqlite'))
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA synchronous = OFF')
  db.exec('CREATE TABLE IF NOT EXISTS flume_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)')
  db.exec('BEGIN')
  MIGRATIONS.forEach((statements, i) => {
    for (const sql of statements) db.exec(forDialect(sql, 'sqlite'))
    db.prepare('INSERT INTO flume_migrations (version, applied_at) VALUES (?, ?)').run(i + 1, Date.now())
  })
  const insertChat = db.prepare(`INSERT INTO chats (${CHAT_COLUMNS}) VALUES (${CHAT_COLUMNS.split(',').map(() => '?').join(', ')})`)
  const insertMessage = db.prepare(`INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (${MESSAGE_COLUMNS.split(',').map(() => '?').join(', ')})`)
  const out = { chats: 0, messages: 0, longChatId: undefined }
  for (const { chat, messages, isLong } of seedRows(options)) {
    insertChat.run(...chat)
    for (const m of messages) insertMessage.run(...m)
    out.chats++
    out.messages += messages.length
    if (isLong) out.longChatId = chat[0]
  }
  db.exec('COMMIT')
  db.exec('ANALYZE')
  db.close()
  return out
}

/** Seeds an empty PostgreSQL database at `url`, migrated as the app migrates it. */
export async function seedPostgres(url, options) {
  const { default: pg } = await import('pg')
  const { MIGRATIONS, forDialect } = await migrations()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const out = { chats: 0, messages: 0, longChatId: undefined }
  try {
    await client.query('CREATE TABLE IF NOT EXISTS flume_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)')
    await client.query('BEGIN')
    for (const [i, statements] of MIGRATIONS.entries()) {
      for (const sql of statements) await client.query(forDialect(sql, 'postgresql'))
      await client.query('INSERT INTO flume_migrations (version, applied_at) VALUES ($1, $2)', [i + 1, Date.now()])
    }
    const flush = async (table, columns, rows) => {
      if (!rows.length) return
      const width = columns.split(',').length
      const values = rows.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ')
      await client.query(`INSERT INTO ${table} (${columns}) VALUES ${values}`, rows.flat())
    }
    let chats = []
    let messages = []
    for (const { chat, messages: rows, isLong } of seedRows(options)) {
      chats.push(chat)
      out.chats++
      out.messages += rows.length
      if (isLong) out.longChatId = chat[0]
      if (chats.length >= 500) {
        await flush('chats', CHAT_COLUMNS, chats)
        chats = []
      }
      messages.push(...rows)
      // Chats first: messages reference them.
      while (messages.length >= 2000) {
        await flush('chats', CHAT_COLUMNS, chats)
        chats = []
        await flush('messages', MESSAGE_COLUMNS, messages.splice(0, 2000))
      }
    }
    await flush('chats', CHAT_COLUMNS, chats)
    await flush('messages', MESSAGE_COLUMNS, messages)
    await client.query('COMMIT')
    await client.query('ANALYZE')
  }
  finally {
    await client.end()
  }
  return out
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      'owner': { type: 'string' },
      'chats': { type: 'string', default: '5000' },
      'messages': { type: 'string', default: '100000' },
      'long': { type: 'string', default: '2000' },
    },
  })
  if (!args['data-dir'] && !args['database-url']) {
    console.error('usage: node bench/seed.mjs (--data-dir DIR | --database-url postgres://…) [--chats 5000] [--messages 100000] [--long 2000] [--owner ID]')
    process.exit(2)
  }
  const options = { owner: args.owner ?? newId(), chats: Number(args.chats), messages: Number(args.messages), long: Number(args.long) }
  const started = performance.now()
  const seeded = args['database-url'] ? await seedPostgres(args['database-url'], options) : await seedSqlite(args['data-dir'], options)
  console.log(JSON.stringify({ owner: options.owner, ...seeded, seconds: Math.round((performance.now() - started) / 100) / 10 }))
}
