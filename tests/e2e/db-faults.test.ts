/**
 * The database becoming unwritable mid-answer. Simulated with the SQLite file locked by another
 * process, as a backup tool, a migration or a stuck writer would: this test process opens the
 * server's database file and holds `BEGIN EXCLUSIVE`, so every write of the server waits out its
 * busy timeout (5 s) and fails with SQLITE_BUSY, while reads still work (WAL). A full disk fails
 * writes the same way (SQLITE_FULL) and takes the same path. SQLite only.
 */
import { join } from 'node:path'
import type { DatabaseSync } from 'node:sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { openStream } from '../support/http'
import { startFlume } from '../support/flume-server'
import { usingPostgres } from '../support/postgres'
import { createClient, expectOffsets, getMessage, newChat, poll, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  if (!usingPostgres) env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

/** Another process's connection holding the write lock of the server's database until `release()`. */
function lockDatabase(dataDir: string) {
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite')
  const db: DatabaseSync = new DatabaseSync(join(dataDir, 'flume.sqlite'))
  db.exec('PRAGMA busy_timeout = 10000')
  db.exec('BEGIN EXCLUSIVE')
  return {
    /** What the database holds now (the lock holder can read it). */
    stored: (id: string) => db.prepare('SELECT content, status FROM messages WHERE id = ?').get(id) as { content: string, status: string },
    release() {
      if (db.isTransaction) db.exec('ROLLBACK')
      db.close()
    },
  }
}

/** A Flume of its own (a test that stops it, or needs other settings) on the shared fake upstream. */
function startOwnFlume(settings: Record<string, string>) {
  return startFlume({
    OPENAI_BASE_URL: env.fake.url,
    OPENAI_API_KEY: 'test',
    FLUME_MODEL: 'gpt-fake',
    FLUME_UPSTREAM_MAX_RETRIES: '0',
    FLUME_SAVE_INTERVAL_MS: '100',
    ...settings,
  })
}

describe.skipIf(usingPostgres)('the database locked mid-answer', () => {
  it('readers get the whole answer and its end from memory while it is locked; once it is free the answer is stored in full and new answers work', { timeout: 120_000 }, async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Saved before the lock. ', 'Written ', 'while it is locked.'], pauseAfter: 1, until: gate.promise })
    const chat = await newChat(env.client)
    const posted = await send(env.client, chat.id, 'Tell me something')
    const id = posted.assistantMessage.id
    const reader = await openStream(env.client, posted.streamUrl)
    await reader.waitForText(t => t === 'Saved before the lock. ')
    await poll(() => getMessage(env.client, chat.id, id), m => m.content === 'Saved before the lock. ', { what: 'the first text to be saved' })

    const lock = lockDatabase(env.flume.dataDir)
    try {
      gate.open()
      // The first failed store of the final state takes the busy timeout (5 s), a progress save
      // before it as much again: well within this wait. (Before, the end came only once stored, or
      // after five failed tries, some 27 s, with the text since the last save lost.)
      const frames = await reader.readUntilDone(20_000)
      const whole = 'Saved before the lock. Written while it is locked.'
      expect(expectOffsets(frames)).toBe(whole)
      expect(frames.at(-1)!.data).toBe('[DONE]')
      // Still locked: the database has only what was saved before; readers were served from memory.
      expect(lock.stored(id)).toEqual({ content: 'Saved before the lock. ', status: 'streaming' })
      // A reader who comes now (a reload) gets the answer from memory too, not the stale saved text.
      const late = await openStream(env.client, posted.streamUrl)
      expect(expectOffsets(await late.readUntilDone(20_000))).toBe(whole)
      expect(lock.stored(id).status).toBe('streaming')
    }
    finally {
      lock.release()
    }

    const stored = await waitFinal(env.client, chat.id, id, 30_000)
    expect(stored).toMatchObject({ status: 'done', content: 'Saved before the lock. Written while it is locked.' })
    expect(env.flume.logs()).toMatch(/could not store the final answer of/)
    expect(env.flume.logs()).toMatch(/stored the final answer of \S+ after \d+ failed attempt/)

    const next = await send(env.client, chat.id, 'And now?')
    expect(await waitFinal(env.client, chat.id, next.assistantMessage.id)).toMatchObject({ status: 'done', content: 'Hello, world!' })
  })

  it('does not hold up a shutdown: SIGTERM exits within the grace period while the final state is still refused', { timeout: 120_000 }, async () => {
    const GRACE_MS = 1000
    const flume = await startOwnFlume({ FLUME_SHUTDOWN_GRACE_MS: String(GRACE_MS) })
    const lockHolder: { release?: () => void } = {}
    try {
      const gate = createGate()
      env.fake.enqueue({ chunks: ['Kept ', 'in memory.'], pauseAfter: 1, until: gate.promise })
      const client = createClient(flume.url)
      const posted = await send(client, (await newChat(client)).id, 'Quick')
      const reader = await openStream(client, posted.streamUrl)
      await reader.waitForText(t => t === 'Kept ')
      const lock = lockDatabase(flume.dataDir)
      lockHolder.release = lock.release
      gate.open()
      expect(expectOffsets(await reader.readUntilDone(20_000))).toBe('Kept in memory.')
      const signalled = Date.now()
      flume.signal('SIGTERM')
      const code = await flume.exited
      // The grace, plus at most one write that was already waiting out SQLite's busy timeout (5 s).
      expect(Date.now() - signalled).toBeLessThan(GRACE_MS + 5000 + 2000)
      expect(code).toBe(0)
      expect(flume.logs()).toMatch(/gave up storing the final answer of \S+: the server is shutting down/)
    }
    finally {
      lockHolder.release?.()
      await flume.stop()
    }
  })

  it('an outage longer than FLUME_STORAGE_GRACE_MS cuts the answer short with storage_unavailable, keeps what readers have, and stores it once the database is back', { timeout: 120_000 }, async () => {
    const flume = await startOwnFlume({ FLUME_STORAGE_GRACE_MS: '1000' })
    const lockHolder: { release?: () => void } = {}
    try {
      // A long answer that would go on for a minute: the model must not be paid for text nobody can keep.
      const words = Array.from({ length: 600 }, (_, i) => `w${i} `)
      env.fake.enqueue({ chunks: words, delayMs: 100 })
      const client = createClient(flume.url)
      const chat = await newChat(client)
      const posted = await send(client, chat.id, 'Go on and on')
      const id = posted.assistantMessage.id
      const reader = await openStream(client, posted.streamUrl)
      await reader.waitForText(t => t.length > 10)
      const request = env.fake.completions.at(-1)!
      const lock = lockDatabase(flume.dataDir)
      lockHolder.release = lock.release
      // Two failed saves (each waits out SQLite's 5 s busy timeout), then the final store fails too.
      const frames = await reader.readUntilDone(60_000)
      const text = expectOffsets(frames)
      const error = frames.map(f => f.data).find(d => d?.includes('"error"'))
      expect(JSON.parse(error!)).toMatchObject({ type: 'error', code: 'storage_unavailable', message: expect.stringMatching(/database stopped taking writes/) })
      expect(await request.outcome).toBe('aborted')
      expect(text.length).toBeGreaterThan(10)
      expect(text.length).toBeLessThan(words.join('').length)
      lock.release()
      lockHolder.release = undefined
      const stored = await waitFinal(client, chat.id, id, 30_000)
      expect(stored).toMatchObject({ status: 'error', content: text, error: { code: 'storage_unavailable' } })
      expect(flume.logs()).toMatch(/refused writes for \d+ ms; ending 1 running answer/)
      // The server is well again: a new answer is written and stored.
      const next = await send(client, chat.id, 'And now?')
      expect(await waitFinal(client, chat.id, next.assistantMessage.id)).toMatchObject({ status: 'done', content: 'Hello, world!' })
    }
    finally {
      lockHolder.release?.()
      await flume.stop()
    }
  })
})
