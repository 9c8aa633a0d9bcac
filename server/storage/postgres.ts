import type { StorageDriver } from './db'

/** PostgreSQL (DATABASE_URL). */
export async function openPostgres(_url: string): Promise<StorageDriver> {
  throw new Error('PostgreSQL support is not built yet.')
}
