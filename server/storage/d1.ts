import { createDatabase } from 'db0'
import cloudflareD1 from 'db0/connectors/cloudflare-d1'
import type { Statement, StorageDriver } from './db'

/** The parts of Cloudflare's D1 binding Flume uses (no dependency on @cloudflare/workers-types). */
interface D1Like {
  prepare: (sql: string) => { bind: (...values: unknown[]) => unknown }
  batch: (statements: unknown[]) => Promise<{ meta?: { changes?: number } }[]>
}

/**
 * Cloudflare D1 (the `cloudflare-module` preset), through db0's cloudflare-d1 connector: the
 * binding is looked up per call in `globalThis.__env__` (set by Nitro on every request), so one
 * driver serves every request of the isolate. Atomic batches are D1's `batch()`: one implicit
 * transaction, rolled back whole if a statement fails.
 */
export async function openD1(bindingName = 'DB'): Promise<StorageDriver> {
  const connector = cloudflareD1({ bindingName })
  const db = createDatabase(connector)
  const binding = () => connector.getInstance() as unknown as D1Like
  return {
    db,
    async batch(statements: Statement[]) {
      if (!statements.length) return []
      const d1 = binding()
      // D1 refuses `undefined` parameters (D1_TYPE_ERROR): they mean NULL here as on the other drivers.
      const results = await d1.batch(statements.map(([sql, ...params]) => d1.prepare(sql).bind(...params.map(p => p ?? null))))
      return results.map(r => Number(r.meta?.changes ?? 0))
    },
    // D1 runs one statement (or one batch) at a time per database; a migration is one batch, and a
    // second isolate migrating at once fails on flume_migrations' primary key and rolls back.
    exclusive: fn => fn(),
    async close() {},
  }
}
