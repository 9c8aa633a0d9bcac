import pg from 'pg'
import { createDatabase, type Connector } from 'db0'
import type { Statement, StorageDriver } from './db'
import { DriverStatement, type Params } from './statement'

/** Any number: pg_advisory_lock's key for "migrating Flume's schema", the same in every instance. */
const MIGRATION_LOCK = 726_153_001
/** SQLSTATEs after which a whole transaction can simply run again: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01'])
const MAX_ATTEMPTS = 10

/**
 * PostgreSQL (DATABASE_URL), through db0 with a connector of our own over `pg.Pool`. db0's
 * `postgresql` connector keeps one `pg.Client` for the process: every query waits for the one
 * before it, a transaction's BEGIN..COMMIT would take in other requests' queries, and once that
 * connection drops, every later query fails (the rejected connect is cached).
 */
export async function openPostgres(url: string, poolSize = 10): Promise<StorageDriver> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: { getTypeParser } })
  // An idle client whose connection dropped (a database restart): the pool replaces it on the next query.
  pool.on('error', error => console.warn('[flume] a PostgreSQL connection dropped:', error.message))

  const query = (sql: string, params?: Params) => pool.query(toPositional(sql), params as unknown[] | undefined)
  const connector: Connector<pg.Pool> = {
    name: 'flume-postgresql',
    dialect: 'postgresql',
    getInstance: () => pool,
    exec: sql => query(sql),
    prepare: sql => new PoolStatement(sql, query),
    dispose: () => pool.end(),
  }
  const db = createDatabase(connector)
  try {
    await warnIfLowerIsAsciiOnly(pool)
  }
  catch (error) {
    await pool.end()
    throw error
  }

  return {
    db,
    // One pooled connection, SERIALIZABLE and run again on a conflict: a batch sees and leaves
    // the database as if no other query ran meanwhile, as SQLite's single writer guarantees
    // (two questions posted at once to one chat still get distinct positions).
    async batch(statements: Statement[]) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect()
        let broken: Error | undefined
        try {
          await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE')
          const changed: number[] = []
          for (const [sql, ...params] of statements) changed.push((await client.query(toPositional(sql), params)).rowCount ?? 0)
          await client.query('COMMIT')
          return changed
        }
        catch (error) {
          await client.query('ROLLBACK').catch((rollbackError: Error) => {
            broken = rollbackError
          })
          const code = (error as { code?: string }).code
          if (attempt >= MAX_ATTEMPTS || !code || !RETRYABLE.has(code)) throw error
        }
        finally {
          // A connection that cannot even roll back is not given to the next request.
          client.release(broken)
        }
        await new Promise(resolve => setTimeout(resolve, Math.random() * 10 * attempt))
      }
    },
    // A session lock on a connection of its own (not the pool's: `fn` queries through the pool,
    // which may be one connection). Instances booting at once migrate one after the other, and
    // the lock goes with the connection if this process dies holding it.
    async exclusive(fn) {
      const client = new pg.Client({ connectionString: url })
      client.on('error', error => console.warn('[flume] the PostgreSQL migration lock connection dropped:', error.message))
      await client.connect()
      try {
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
        try {
          return await fn()
        }
        finally {
          await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined)
        }
      }
      finally {
        await client.end().catch(() => undefined)
      }
    },
    async close() {
      await db.dispose()
    },
  }
}

class PoolStatement extends DriverStatement {
  constructor(private readonly sql: string, private readonly query: (sql: string, params?: Params) => Promise<pg.QueryResult>) {
    super()
  }

  async all(...params: Params) {
    return (await this.query(this.sql, params)).rows
  }

  /** `changes` as SQLite names it, so callers count changed rows the same way on both. */
  async run(...params: Params) {
    const res = await this.query(this.sql, params)
    return { success: true, changes: res.rowCount ?? 0, rows: res.rows }
  }

  async get(...params: Params) {
    return (await this.query(this.sql, params)).rows[0]
  }
}

/**
 * `?` placeholders (SQLite's, used by every query) as PostgreSQL's `$1, $2, ...`; a `?` inside a
 * quoted string or identifier stays as it is.
 */
export function toPositional(sql: string): string {
  let n = 0
  return sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, token => (token === '?' ? `$${++n}` : token))
}

/**
 * BIGINT (epoch milliseconds, counts) as a JavaScript number, as SQLite returns it: pg returns
 * strings by default, since an int8 may exceed 2^53. Ours never do. Per pool, not pg's global.
 */
function getTypeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === pg.types.builtins.INT8 && format !== 'binary') return Number
  return pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown
}

/**
 * Search lowers both sides with LOWER(); in a database created with the C locale, PostgreSQL's
 * folds A-Z only and "Éclair" would not match "éclair". Said once at boot, not silently.
 */
async function warnIfLowerIsAsciiOnly(pool: pg.Pool) {
  const { rows } = await pool.query(`SELECT LOWER('ÉД') = 'éд' AS unicode, current_setting('lc_ctype') AS ctype`)
  if (!rows[0]?.unicode) {
    console.warn(`[flume] this PostgreSQL database folds case in A-Z only (LC_CTYPE ${rows[0]?.ctype}): search will not ignore the case of other letters. Create it with a UTF-8 locale, e.g. CREATE DATABASE flume LC_CTYPE 'C.UTF-8' TEMPLATE template0.`)
  }
}
