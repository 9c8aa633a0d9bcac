import { join } from 'node:path'
import { createDatabase, type Database } from 'db0'
import nodeSqlite from 'db0/connectors/node-sqlite'

/**
 * Migrations in order; each runs once, in a transaction, and is recorded in `flume_migrations`.
 * Plain SQL that SQLite, PostgreSQL and D1 all accept (TEXT ids, BIGINT epoch milliseconds).
 */
const MIGRATIONS: string[][] = [
  [
    `CREATE TABLE IF NOT EXISTS chats (
      id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      title TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS chats_owner_updated ON chats (owner, updated_at)`,
    `CREATE TABLE IF NOT EXISTS messages (
      id TEXT PRIMARY KEY,
      chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      owner TEXT NOT NULL,
      position INTEGER NOT NULL,
      role TEXT NOT NULL,
      content TEXT NOT NULL,
      status TEXT NOT NULL,
      error_code TEXT,
      error_message TEXT,
      model TEXT,
      prompt_tokens INTEGER,
      completion_tokens INTEGER,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS messages_chat_position ON messages (chat_id, position)`,
    `CREATE INDEX IF NOT EXISTS messages_status ON messages (status)`,
  ],
  // 2: the model picked for a chat, used by its next messages (NULL: the server's default).
  [
    `ALTER TABLE chats ADD COLUMN model TEXT`,
  ],
  // 3: per-chat generation settings (NULL: none / the model's default).
  [
    `ALTER TABLE chats ADD COLUMN system_prompt TEXT`,
    `ALTER TABLE chats ADD COLUMN temperature REAL`,
  ],
  // 4: where the title came from: NULL automatic (first words), 'generated' (by the model), 'user'.
  [
    `ALTER TABLE chats ADD COLUMN title_source TEXT`,
  ],
]

let ready: Promise<Database> | undefined

/** The app's database (db0). SQLite through node:sqlite in FLUME_DATA_DIR unless configured otherwise. */
export function useDb(): Promise<Database> {
  ready ??= open().catch((error) => {
    ready = undefined
    throw error
  })
  return ready
}

async function open(): Promise<Database> {
  const db = createDatabase(nodeSqlite({ path: join(useFlumeConfig().dataDir, 'flume.sqlite') }))
  if (db.dialect === 'sqlite') {
    // WAL + NORMAL: a save does not fsync on every commit, and readers never wait for a writer.
    await db.exec('PRAGMA journal_mode = WAL')
    await db.exec('PRAGMA synchronous = NORMAL')
    await db.exec('PRAGMA foreign_keys = ON')
    await db.exec('PRAGMA busy_timeout = 5000')
    // SQLite's LOWER() folds A-Z only, so "Éclair" would never match "éclair". The same name, so
    // queries stay plain SQL that PostgreSQL (whose LOWER is Unicode-aware) runs as they are.
    const instance = await db.getInstance() as Partial<UserFunctions>
    instance.function?.('lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value))
  }
  await migrate(db)
  return db
}

async function migrate(db: Database) {
  await db.exec('CREATE TABLE IF NOT EXISTS flume_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)')
  const rows = await db.prepare('SELECT version FROM flume_migrations').all() as { version: number }[]
  const done = new Set(rows.map(r => Number(r.version)))
  for (const [index, statements] of MIGRATIONS.entries()) {
    const version = index + 1
    if (done.has(version)) continue
    await runBatch(db, [
      ...statements.map((sql): Statement => [sql]),
      ['INSERT INTO flume_migrations (version, applied_at) VALUES (?, ?)', version, Date.now()],
    ])
  }
}

export type Statement = [sql: string, ...params: (string | number | null | undefined)[]]

interface UserFunctions {
  function: (name: string, options: { deterministic?: boolean }, fn: (...args: unknown[]) => unknown) => void
}

interface SyncSqlite {
  exec: (sql: string) => void
  prepare: (sql: string) => { run: (...params: (string | number | null | undefined)[]) => unknown }
}

let queue: Promise<unknown> = Promise.resolve()

/**
 * Runs statements atomically. On SQLite they run synchronously in one transaction, so no other
 * request's query can land in the middle of it; other drivers get BEGIN/COMMIT behind a queue.
 */
export async function runBatch(db: Database, statements: Statement[]): Promise<void> {
  if (!statements.length) return
  const instance = db.dialect === 'sqlite' ? await db.getInstance() as SyncSqlite : undefined
  if (instance && typeof instance.prepare === 'function') {
    // A save batch runs the same UPDATE for every running answer: prepare it once.
    const prepared = new Map<string, ReturnType<SyncSqlite['prepare']>>()
    instance.exec('BEGIN')
    try {
      for (const [sql, ...params] of statements) {
        let statement = prepared.get(sql)
        if (!statement) prepared.set(sql, statement = instance.prepare(sql))
        statement.run(...params)
      }
      instance.exec('COMMIT')
    }
    catch (error) {
      instance.exec('ROLLBACK')
      throw error
    }
    return
  }
  const run = queue.then(async () => {
    await db.exec('BEGIN')
    try {
      for (const [sql, ...params] of statements) await db.prepare(sql).run(...params)
      await db.exec('COMMIT')
    }
    catch (error) {
      await db.exec('ROLLBACK')
      throw error
    }
  })
  queue = run.catch(() => {})
  await run
}
