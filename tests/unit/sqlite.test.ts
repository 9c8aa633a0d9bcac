import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqlite } from '../../server/storage/sqlite'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

async function open() {
  const dir = mkdtempSync(join(tmpdir(), 'flume-sqlite-'))
  dirs.push(dir)
  const driver = await openSqlite(dir)
  await driver.db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)')
  return driver
}

describe('the SQLite driver', () => {
  it('commits batches asked for together in one transaction, each atomic on its own: a failing one leaves the others whole', async () => {
    const driver = await open()
    const [a, b, c] = await Promise.allSettled([
      driver.batch([['INSERT INTO t (id, n) VALUES (?, ?)', 'a', 1], ['INSERT INTO t (id, n) VALUES (?, ?)', 'a2', 1]]),
      driver.batch([['INSERT INTO t (id, n) VALUES (?, ?)', 'b', 1], ['INSERT INTO t (id, n) VALUES (?, ?)', 'a', 2]]),
      driver.batch([['UPDATE t SET n = n + 1 WHERE id IN (?, ?)', 'a', 'b'], ['INSERT INTO t (id, n) VALUES (?, ?)', 'c', 1]]),
    ])
    expect(a).toEqual({ status: 'fulfilled', value: [1, 1] })
    expect(b.status).toBe('rejected')
    // The failed batch's first insert ("b") was rolled back with it: only "a" is updated.
    expect(c).toEqual({ status: 'fulfilled', value: [1, 1] })
    const rows = await driver.db.prepare('SELECT id, n FROM t ORDER BY id').all()
    expect(rows).toEqual([{ id: 'a', n: 2 }, { id: 'a2', n: 1 }, { id: 'c', n: 1 }])
    await driver.close()
  })

  it('answers the rows each statement changed', async () => {
    const driver = await open()
    await driver.batch([['INSERT INTO t (id, n) VALUES (?, ?)', 'x', 1], ['INSERT INTO t (id, n) VALUES (?, ?)', 'y', 1]])
    expect(await driver.batch([['UPDATE t SET n = 5 WHERE n = 1'], ['UPDATE t SET n = 6 WHERE id = ?', 'none']])).toEqual([2, 0])
    await driver.close()
  })
})
