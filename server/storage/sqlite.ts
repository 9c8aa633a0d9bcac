import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { DatabaseSync, SQLInputValue, SQLOutputValue, StatementSync } from 'node:sqlite'
import { createDatabase, type Connector } from 'db0'
import type { Statement, StorageDriver } from './db'
import { DriverStatement, type Params } from './statement'

/**
 * SQLite through node:sqlite, in FLUME_DATA_DIR: the default, nothing to install. A db0
 * connector of our own so that each SQL text is prepared once per process (db0's node-sqlite
 * connector prepares again on every query: about a third of the database's CPU when answers start
 * in a burst, bench/README.md scenario C).
 */
export async function openSqlite(dataDir: string): Promise<StorageDriver> {
  mkdirSync(dataDir, { recursive: true })
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite')
  const instance: DatabaseSync = new DatabaseSync(join(dataDir, 'flume.sqlite'))
  const cache = new Map<string, StatementSync>()
  const prepared = (sql: string) => {
    let statement = cache.get(sql)
    if (!statement) cache.set(sql, statement = instance.prepare(sql))
    return statement
  }
  const connector: Connector<DatabaseSync> = {
    name: 'flume-sqlite',
    dialect: 'sqlite',
    getInstance: () => instance,
    exec: (sql) => {
      instance.exec(sql)
      return { success: true }
    },
    prepare: sql => new CachedStatement(() => prepared(sql)),
    dispose: () => {
      cache.clear()
      instance.close()
    },
  }
  const db = createDatabase(connector)
  // First: another process opening the same file at once may hold a lock for a moment.
  await db.exec('PRAGMA busy_timeout = 5000')
  // WAL + NORMAL: a save does not fsync on every commit, and readers never wait for a writer.
  await db.exec('PRAGMA journal_mode = WAL')
  await db.exec('PRAGMA synchronous = NORMAL')
  await db.exec('PRAGMA foreign_keys = ON')
  // SQLite's LOWER() folds A-Z only, so "Éclair" would never match "éclair". The same name, so
  // queries stay plain SQL that PostgreSQL (whose LOWER is Unicode-aware) runs as they are.
  instance.function('lower', { deterministic: true }, (value: SQLOutputValue) => (typeof value === 'string' ? value.toLowerCase() : value))
  let exclusive = false
  /** Runs one batch's statements inside the current transaction, as a savepoint of its own. */
  const runInSavepoint = (statements: Statement[]): number[] => {
    instance.exec('SAVEPOINT batch')
    try {
      const changed = statements.map(([sql, ...params]) => Number(prepared(sql).run(...params as SQLInputValue[]).changes))
      instance.exec('RELEASE batch')
      return changed
    }
    catch (error) {
      instance.exec('ROLLBACK TO batch')
      instance.exec('RELEASE batch')
      throw error
    }
  }
  // Group commit: the batches asked for in one turn of the event loop share one transaction, each
  // in a savepoint of its own (one failing batch leaves the others whole). In a burst of new
  // answers that is one commit for many answers' writes, not several per answer.
  let group: { statements: Statement[], resolve: (changed: number[]) => void, reject: (error: unknown) => void }[] = []
  const commitGroup = () => {
    const batches = group
    group = []
    const outcomes: ({ changed: number[] } | { error: unknown })[] = []
    try {
      instance.exec('BEGIN')
      for (const batch of batches) {
        try {
          outcomes.push({ changed: runInSavepoint(batch.statements) })
        }
        catch (error) {
          outcomes.push({ error })
        }
      }
      instance.exec('COMMIT')
    }
    catch (error) {
      if (instance.isTransaction) instance.exec('ROLLBACK')
      for (const batch of batches) batch.reject(error)
      return
    }
    batches.forEach((batch, i) => {
      const outcome = outcomes[i]!
      if ('error' in outcome) batch.reject(outcome.error)
      else batch.resolve(outcome.changed)
    })
  }
  return {
    db,
    // Atomic: SQLite runs it synchronously inside a transaction, so no other query lands in the
    // middle of it.
    batch(statements: Statement[]) {
      // Inside `exclusive`'s transaction (migrations), at once.
      if (exclusive) return Promise.resolve(runInSavepoint(statements))
      return new Promise<number[]>((resolve, reject) => {
        if (!group.length) setImmediate(commitGroup)
        group.push({ statements, resolve, reject })
      })
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

/** db0's statement over a cached node:sqlite statement. */
class CachedStatement extends DriverStatement {
  constructor(private readonly statement: () => StatementSync) {
    super()
  }

  async all(...params: Params) {
    return this.statement().all(...params as SQLInputValue[])
  }

  async run(...params: Params) {
    return { success: true, ...this.statement().run(...params as SQLInputValue[]) }
  }

  async get(...params: Params) {
    return this.statement().get(...params as SQLInputValue[])
  }
}
