import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * Throwaway PostgreSQL databases for the `e2e-postgres` project: one per test server, made on
 * the cluster FLUME_TEST_DATABASE_URL points at (`eval "$(bash .ci/services.sh)"` starts one).
 * Their names carry the run's id, so the run's global teardown drops what a crashed test left.
 */
export const adminUrl = process.env.FLUME_TEST_DATABASE_URL || undefined

/** True in the `e2e-postgres` project: test servers store everything in PostgreSQL. */
export const usingPostgres = process.env.FLUME_TEST_STORAGE === 'postgres'

const runId = () => (process.env.FLUME_TEST_PG_RUN || 'adhoc').replace(/\W/g, '').toLowerCase()

export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>, url = adminUrl): Promise<T> {
  if (!url) throw new Error('FLUME_TEST_DATABASE_URL is not set (see README, PostgreSQL).')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  }
  finally {
    await client.end()
  }
}

/** A new, empty database; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const name = `flume_t_${runId()}_${randomBytes(5).toString('hex')}`
  // The cluster's default locale: with a C one, the non-ASCII search tests fail, as search would (Flume warns at boot).
  await withAdmin(c => c.query(`CREATE DATABASE ${name}`))
  const url = new URL(adminUrl!)
  url.pathname = `/${name}`
  return url.toString()
}

export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1)
  if (!/^flume_t_\w+$/.test(name)) throw new Error(`not a test database: ${name}`)
  await withAdmin(c => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
}

/** Drops every database this run made (global teardown). */
export async function dropRunDatabases(): Promise<void> {
  const { rows } = await withAdmin(c => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`flume\\_t\\_${runId()}\\_%`]))
  for (const { datname } of rows) await withAdmin(c => c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`))
}

/** Queries one test database. */
export async function queryDatabase<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  return await withAdmin(async c => (await c.query<R>(sql, params)).rows, url)
}
