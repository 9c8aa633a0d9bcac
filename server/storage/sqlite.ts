import { join } from 'node:path'
import { createDatabase } from 'db0'
import nodeSqlite from 'db0/connectors/node-sqlite'
import type { Statement, StorageDriver } from './db'

interface SyncSqlite {
  exec: (sql: string) => void
  prepare: (sql: string) => { run: (...params: (string | number | null | undefined)[]) => unknown }
  function: (name: string, options: { deterministic?: boolean }, fn: (...args: unknown[]) => unknown) => void
}

/** SQLite through node:sqlite, in FLUME_DATA_DIR: the default, nothing to install. */
export async function openSqlite(dataDir: string): Promise<StorageDriver> {
  const db = createDatabase(nodeSqlite({ path: join(dataDir, 'flume.sqlite') }))
  // WAL + NORMAL: a save does not fsync on every commit, and readers never wait for a writer.
  await db.exec('PRAGMA journal_mode = WAL')
  await db.exec('PRAGMA synchronous = NORMAL')
  await db.exec('PRAGMA foreign_keys = ON')
  await db.exec('PRAGMA busy_timeout = 5000')
  const instance = await db.getInstance() as SyncSqlite
  // SQLite's LOWER() folds A-Z only, so "Éclair" would never match "éclair". The same name, so
  // queries stay plain SQL that PostgreSQL (whose LOWER is Unicode-aware) runs as they are.
  instance.function('lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value))
  return {
    db,
    // Synchronous, in one transaction: no other request's query can land in the middle of it.
    async batch(statements: Statement[]) {
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
    },
    // One process owns the file's migrations at a time: SQLite's own write lock.
    async exclusive(fn) {
      return await fn()
    },
    async close() {
      await db.dispose?.()
    },
  }
}
