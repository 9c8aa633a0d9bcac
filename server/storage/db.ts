import type { Database } from 'db0'
import { platform } from '#flume/platform'
import { MIGRATIONS, forDialect } from './migrations'

export type Statement = [sql: string, ...params: (string | number | null | undefined)[]]

/**
 * One database behind db0's `Database`, plus what db0 leaves to each driver: atomic batches and
 * a lock for migrations (several instances may boot at once).
 */
export interface StorageDriver {
  db: Database
  /** Runs statements atomically, in order; answers the rows each statement changed. */
  batch: (statements: Statement[]) => Promise<number[]>
  /** Runs `fn` while no other process runs it (migrations). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  close: () => Promise<void>
}

let ready: Promise<StorageDriver> | undefined

async function connect(): Promise<StorageDriver> {
  const config = useFlumeConfig()
  if (config.databaseUrl && !/^postgres(?:ql)?:\/\//.test(config.databaseUrl)) {
    throw new Error('DATABASE_URL must be a postgres:// URL (unset: SQLite in FLUME_DATA_DIR).')
  }
  // PostgreSQL or SQLite on Node, D1 on Cloudflare (server/platform/).
  const driver = await platform.openStorage(config)
  await driver.exclusive(() => migrate(driver))
  return driver
}

function useStorage(): Promise<StorageDriver> {
  ready ??= connect().catch((error) => {
    ready = undefined
    throw error
  })
  return ready
}

/** The app's database (db0): PostgreSQL when DATABASE_URL says so, else SQLite in FLUME_DATA_DIR (D1 on Cloudflare). Migrated on first use. */
export async function useDb(): Promise<Database> {
  return (await useStorage()).db
}

/**
 * Runs statements atomically (one transaction), on whichever database is configured; answers the
 * rows each statement changed.
 */
export async function runBatch(_db: Database, statements: Statement[]): Promise<number[]> {
  if (!statements.length) return []
  return await (await useStorage()).batch(statements)
}

/** Runs one writing statement in its own transaction; answers the rows it changed. */
export async function runWrite(statement: Statement): Promise<number> {
  return (await (await useStorage()).batch([statement]))[0] ?? 0
}

/** Rows an UPDATE or DELETE changed, from any driver's answer (SQLite `changes`, pg `rowCount`, D1 `meta.changes`). */
export function changedRows(result: unknown): number {
  const r = result as { changes?: number | bigint, rowCount?: number | null, meta?: { changes?: number } } | undefined
  return Number(r?.changes ?? r?.rowCount ?? r?.meta?.changes ?? 0)
}

/** Closes the database (graceful shutdown). */
export async function closeDb(): Promise<void> {
  const current = ready
  ready = undefined
  if (current) await (await current.catch(() => undefined))?.close()
}

async function migrate(driver: StorageDriver) {
  const { db } = driver
  await db.exec('CREATE TABLE IF NOT EXISTS flume_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)')
  const rows = await db.prepare('SELECT version FROM flume_migrations').all() as { version: number }[]
  const done = new Set(rows.map(r => Number(r.version)))
  for (const [index, statements] of MIGRATIONS.entries()) {
    const version = index + 1
    if (done.has(version)) continue
    await driver.batch([
      ...statements.map((sql): Statement => [forDialect(sql, db.dialect)]),
      ['INSERT INTO flume_migrations (version, applied_at) VALUES (?, ?)', version, Date.now()],
    ])
  }
}
