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
  // First: another process opening the same file at once may hold a lock for a moment.
  await db.exec('PRAGMA busy_timeout = 5000')
  // WAL + NORMAL: a save does not fsync on every commit, and readers never wait for a writer.
  await db.exec('PRAGMA journal_mode = WAL')
  await db.exec('PRAGMA synchronous = NORMAL')
  await db.exec('PRAGMA foreign_keys = ON')
  const instance = await db.getInstance() as SyncSqlite
  // SQLite's LOWER() folds A-Z only, so "Éclair" would never match "éclair". The same name, so
  // queries stay plain SQL that PostgreSQL (whose LOWER is Unicode-aware) runs as they are.
  instance.function('lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value))
  let exclusive = false
  return {
    db,
    // Synchronous, in one transaction: no other request's query can land in the middle of it.
    async batch(statements: Statement[]) {
      // A save batch runs the same UPDATE for every running answer: prepare it once.
      const prepared = new Map<string, ReturnType<SyncSqlite['prepare']>>()
      // Inside `exclusive`'s transaction, a savepoint.
      const [begin, commit, rollback] = exclusive ? ['SAVEPOINT batch', 'RELEASE batch', 'ROLLBACK TO batch'] : ['BEGIN', 'COMMIT', 'ROLLBACK']
      instance.exec(begin)
      try {
        for (const [sql, ...params] of statements) {
          let statement = prepared.get(sql)
          if (!statement) prepared.set(sql, statement = instance.prepare(sql))
          statement.run(...params)
        }
        instance.exec(commit)
      }
      catch (error) {
        instance.exec(rollback)
        throw error
      }
    },
    // One process migrates the file at a time: `fn` runs in a transaction that holds SQLite's
    // write lock from its start (another process booting at once waits in BEGIN IMMEDIATE, then
    // finds the migrations done). Only used while connecting, when no request queries yet.
    async exclusive(fn) {
      instance.exec('BEGIN IMMEDIATE')
      exclusive = true
      try {
        const result = await fn()
        instance.exec('COMMIT')
        return result
      }
      catch (error) {
        instance.exec('ROLLBACK')
        throw error
      }
      finally {
        exclusive = false
      }
    },
    async close() {
      await db.dispose?.()
    },
  }
}
