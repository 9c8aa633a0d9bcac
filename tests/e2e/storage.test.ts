/** The database itself: migrations when several instances boot at once, values read back as written. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { afterAll, describe, expect, it } from 'vitest'
import { ChatSchema } from '../../shared/schemas'
import { MIGRATIONS } from '../../server/storage/migrations'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createTestDatabase, dropTestDatabase, queryDatabase, usingPostgres } from '../support/postgres'
import { createClient, getChat } from './helpers'

const servers: FlumeServer[] = []
const cleanups: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => {})
  for (const c of cleanups) await c()
})

/** Rows of a query on the server's own database, PostgreSQL or SQLite. */
async function rowsOf<R>(server: FlumeServer, sql: string, ...params: (string | number)[]): Promise<R[]> {
  if (server.databaseUrl) return await queryDatabase(server.databaseUrl, sql.replace(/\?/g, (_, i: number) => `$${sql.slice(0, i).split('?').length}`), params) as R[]
  const db = new DatabaseSync(join(server.dataDir, 'flume.sqlite'), { readOnly: true })
  try {
    return db.prepare(sql).all(...params) as R[]
  }
  finally {
    db.close()
  }
}

/** The versions recorded in `flume_migrations`, one entry per row. */
async function migrationVersions(server: FlumeServer): Promise<number[]> {
  return (await rowsOf<{ version: number }>(server, 'SELECT version FROM flume_migrations ORDER BY version')).map(r => Number(r.version))
}

describe(`storage (${usingPostgres ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('two instances booting at once on one fresh database both come up, and each migration runs once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flume-twins-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    // One secret, as several instances behind one address must share: a cookie works on both.
    const env: Record<string, string> = { FLUME_SESSION_SECRET: 's'.repeat(40) }
    if (usingPostgres) {
      const databaseUrl = await createTestDatabase()
      cleanups.push(() => dropTestDatabase(databaseUrl))
      env.DATABASE_URL = databaseUrl
    }
    const [a, b] = await Promise.all([startFlume(env, { dataDir }), startFlume(env, { dataDir })])
    servers.push(a, b)

    expect(await migrationVersions(a)).toEqual(MIGRATIONS.map((_, i) => i + 1))
    for (const server of [a, b]) expect(server.logs()).not.toContain('could not open the database')

    const onA = createClient(a.url)
    const created = await onA.json('POST', '/api/chats', { title: 'Made on A' })
    expect(created.status, created.text).toBe(201)
    const onB = createClient(b.url)
    const cookie = [...onA.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const listed = await onB.json('GET', '/api/chats', undefined, { cookie })
    expect(ChatSchema.array().parse(listed.body).map(c => c.title)).toEqual(['Made on A'])
  })

  it('reads numbers back exactly as written (temperature, times)', async () => {
    const server = await startFlume()
    servers.push(server)
    const client = createClient(server.url)
    const chat = ChatSchema.parse((await client.json('POST', '/api/chats', { title: 'Numbers' })).body)
    for (const temperature of [0.7, 0.1, 1.3, 2]) {
      const res = await client.json('PATCH', `/api/chats/${chat.id}`, { temperature })
      expect(res.status, res.text).toBe(200)
      expect((await getChat(client, chat.id)).temperature).toBe(temperature)
    }
    const again = await getChat(client, chat.id)
    expect(again.createdAt).toBe(chat.createdAt)
    expect(Date.parse(again.updatedAt)).toBeGreaterThanOrEqual(Date.parse(chat.createdAt))
  })

  it('questions posted at once to one chat each get a place of their own, their answer right after them', async () => {
    const server = await startFlume({ FLUME_DEMO_DELAY_MS: '1' })
    servers.push(server)
    const client = createClient(server.url)
    const chat = ChatSchema.parse((await client.json('POST', '/api/chats', { title: 'Busy chat' })).body)
    const questions = Array.from({ length: 8 }, (_, i) => `question ${i}`)
    const posted = await Promise.all(questions.map(content => client.json('POST', `/api/chats/${chat.id}/messages`, { content })))
    for (const res of posted) expect(res.status, res.text).toBe(202)

    const rows = await rowsOf<{ position: number }>(server, 'SELECT position FROM messages WHERE chat_id = ? ORDER BY position', chat.id)
    expect(rows.map(r => Number(r.position))).toEqual(Array.from({ length: 16 }, (_, i) => i + 1))
    const { messages } = await getChat(client, chat.id)
    expect(messages.map(m => m.role)).toEqual(questions.flatMap(() => ['user', 'assistant']))
    for (const res of posted) {
      const at = messages.findIndex(m => m.id === res.body.userMessage.id)
      expect(messages[at + 1]!.id).toBe(res.body.assistantMessage.id)
    }
  })

  it('search folds case the same way on both sides of the match, Greek final sigma included', async () => {
    const server = await startFlume()
    servers.push(server)
    const client = createClient(server.url)
    const road = ChatSchema.parse((await client.json('POST', '/api/chats', { title: 'Ο ΔΡΟΜΟΣ ΠΡΟΣ ΤΗ ΘΑΛΑΣΣΑ' })).body)
    await client.json('POST', '/api/chats', { title: 'Unrelated' })
    for (const q of ['ΔΡΟΜΟΣ', 'δρομος', 'δρομοσ', 'Δρομος', 'ΠΡΟΣ ΤΗ', 'ος προς']) {
      const res = await client.json('GET', `/api/chats?q=${encodeURIComponent(q)}`)
      expect(ChatSchema.array().parse(res.body).map(c => c.id), q).toEqual([road.id])
    }
  })
})
