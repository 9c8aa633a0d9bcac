/**
 * Several instances (CONTRACT.md, "Several instances"; docs/instances.md): two production builds
 * on two ports share one database (PostgreSQL when FLUME_TEST_DATABASE_URL is set, else one SQLite
 * file) and one Redis, and every answer can be followed, resumed, stopped and continued from
 * either. Runs in the `e2e` project only (it picks its database itself).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate, startFakeOpenAI, type FakeOpenAI, type Gate } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, openStream, type Client } from '../support/http'
import { adminUrl, createTestDatabase, dropTestDatabase, usingPostgres } from '../support/postgres'
import { events, expectOffsets, getChat, newChat, poll, send, waitFinal } from './helpers'

const redisUrl = process.env.FLUME_TEST_REDIS_URL
const skip = !redisUrl || usingPostgres
if (!redisUrl) console.log('instances: skipped, FLUME_TEST_REDIS_URL is not set (eval "$(bash .ci/services.sh)")')

const LEASE_MS = 1500
const SECRET = 'instances-test-secret-0123456789abcdef'
const prefix = `flume-e2e:${randomBytes(4).toString('hex')}:`

let fake: FakeOpenAI
let dataDir: string
let databaseUrl: string | undefined
let redis: Redis
const servers: FlumeServer[] = []
const gates: Gate[] = []
let a: FlumeServer
let b: FlumeServer
/** One browser: the same cookie on both instances. */
let onA: Client
let onB: Client

async function boot(env: Record<string, string> = {}) {
  const flume = await startFlume({
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'test',
    FLUME_MODEL: 'gpt-fake',
    FLUME_UPSTREAM_MAX_RETRIES: '0',
    FLUME_HEARTBEAT_MS: '200',
    FLUME_SAVE_INTERVAL_MS: '100',
    FLUME_SHUTDOWN_GRACE_MS: '200',
    REDIS_URL: redisUrl!,
    FLUME_REDIS_PREFIX: prefix,
    FLUME_LEASE_MS: String(LEASE_MS),
    FLUME_SESSION_SECRET: SECRET,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  }, { dataDir })
  servers.push(flume)
  return flume
}

function clientOn(server: FlumeServer, like?: Client) {
  const client = createClient(server.url)
  for (const [k, v] of like?.cookies ?? []) client.cookies.set(k, v)
  return client
}

const lastUser = (content: string) => (req: { body?: { messages?: { role: string, content: string }[] } }) =>
  req.body?.messages?.at(-1)?.content === content

/** Queues an answer for `question` that stops after `pauseAfter` chunks until the returned gate opens. */
function paused(question: string, chunks: string[], pauseAfter: number) {
  const gate = createGate()
  gates.push(gate)
  fake.enqueue({ chunks, delayMs: 5, pauseAfter, until: gate.promise, match: lastUser(question) })
  return gate
}

beforeAll(async () => {
  if (skip) return
  fake = await startFakeOpenAI()
  dataDir = mkdtempSync(join(tmpdir(), 'flume-instances-'))
  if (adminUrl) databaseUrl = await createTestDatabase()
  redis = new Redis(redisUrl!)
  ;[a, b] = await Promise.all([boot(), boot()])
  onA = clientOn(a)
  await newChat(onA)
  onB = clientOn(b, onA)
})

afterAll(async () => {
  if (skip) return
  for (const gate of gates) gate.open()
  if (process.env.DEBUG_INSTANCES) for (const server of servers) console.log(server.logs())
  for (const server of servers) await server.kill().catch(() => {})
  await fake?.close()
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
  if (databaseUrl) await dropTestDatabase(databaseUrl)
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe.skipIf(skip)(`several instances (${adminUrl ? 'PostgreSQL' : 'one SQLite file'} and Redis)`, () => {
  it('an answer posted on A is followed live on B from any offset, with the same ids, no gap or duplicate, and 204 at the end', async () => {
    const chunks = ['Hel', 'lo ', 'from ', 'A 💥', ', ', 'read ', 'on ', 'B.']
    const full = chunks.join('')
    const gate = paused('follow on B', chunks, 4)
    const chat = await newChat(onA)
    const { assistantMessage, streamUrl } = await send(onA, chat.id, 'follow on B')
    const fromStart = await openStream(onB, streamUrl)
    await fromStart.waitForText(t => t === 'Hello from A 💥')
    // Mid-answer, on B: the sidebar dot, the title, and a resume by offset and by Last-Event-ID.
    const listed = (await onB.json('GET', '/api/chats')).body.find((c: { id: string }) => c.id === chat.id)
    expect(listed).toMatchObject({ streaming: true, title: 'follow on B' })
    const byOffset = await openStream(onB, `${streamUrl}?offset=6`)
    const byLastEventId = await openStream(onB, streamUrl, { lastEventId: 'Hello from A 💥'.length })
    await byOffset.waitForText(t => t === 'from A 💥')
    // Still being written on A: a stream request on B did not end it.
    expect((await getChat(onB, chat.id)).messages[1]!.status).toBe('streaming')
    gate.open()
    const [all, rest, tail] = await Promise.all([fromStart.readUntilDone(), byOffset.readUntilDone(), byLastEventId.readUntilDone()])
    expect(expectOffsets(all)).toBe(full)
    expect(expectOffsets(rest, 6)).toBe(full.slice(6))
    expect(expectOffsets(tail, 'Hello from A 💥'.length)).toBe(', read on B.')
    expect(events(all).at(-1)).toEqual({ type: 'done' })
    expect(await waitFinal(onB, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: full })
    expect((await openStream(onB, streamUrl, { lastEventId: full.length })).status).toBe(204)
    expect((await openStream(onA, streamUrl, { lastEventId: full.length })).status).toBe(204)
    const after = (await onB.json('GET', '/api/chats')).body.find((c: { id: string }) => c.id === chat.id)
    expect(after.streaming).toBe(false)
  })

  it('a reader on B reloads onto A mid-answer and goes on from its last id', async () => {
    const chunks = ['one ', 'two ', 'three ', 'four ', 'five']
    const gate = paused('reload onto A', chunks, 2)
    const chat = await newChat(onB)
    const { streamUrl } = await send(onB, chat.id, 'reload onto A')
    // The answer is written on B: the first read and the reload both go to A.
    const first = await openStream(onA, streamUrl)
    await first.waitForText(t => t === 'one two ')
    const lastId = first.frames.filter(f => f.id !== undefined).at(-1)!.id!
    first.cancel()
    const again = await openStream(onA, streamUrl, { lastEventId: lastId })
    gate.open()
    const frames = await again.readUntilDone()
    expect(expectOffsets(frames, Number(lastId))).toBe('three four five')
  })

  it('stop sent to B aborts the upstream request on A and answers `stopped`; the answer stays stopped', async () => {
    const gate = paused('stop from B', ['kept ', 'text', ' never sent'], 2)
    const chat = await newChat(onA)
    const { assistantMessage, streamUrl } = await send(onA, chat.id, 'stop from B')
    const reader = await openStream(onA, streamUrl)
    await reader.waitForText(t => t === 'kept text')
    const abortedBefore = fake.aborted
    const stopped = await onB.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    expect(stopped.status, stopped.text).toBe(200)
    expect(stopped.body).toMatchObject({ status: 'stopped', content: 'kept text' })
    await fake.waitForAborted(abortedBefore + 1)
    const frames = await reader.readUntilDone()
    expect(expectOffsets(frames)).toBe('kept text')
    gate.open()
    await new Promise(r => setTimeout(r, 300))
    expect(await waitFinal(onA, chat.id, assistantMessage.id)).toMatchObject({ status: 'stopped', content: 'kept text' })
  })

  it('Continue on B of an answer stopped on A: the new text follows on A from the old length', async () => {
    paused('continue across', ['first part'], 1)
    const chat = await newChat(onA)
    const { assistantMessage, streamUrl } = await send(onA, chat.id, 'continue across')
    await (await openStream(onA, streamUrl)).waitForText(t => t === 'first part')
    expect((await onA.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)).body.status).toBe('stopped')
    fake.enqueue({ chunks: [' and', ' the rest'], delayMs: 20 })
    const continued = await onB.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/continue`)
    expect(continued.status, continued.text).toBe(202)
    const follow = await openStream(onA, `${continued.body.streamUrl}?offset=${'first part'.length}`)
    const frames = await follow.readUntilDone()
    expect(expectOffsets(frames, 'first part'.length)).toBe(' and the rest')
    expect(await waitFinal(onA, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'first part and the rest' })
  })

  it('DELETE sent to B aborts the upstream request of an answer written on A', async () => {
    paused('delete from B', ['soon ', 'gone', ' never'], 2)
    const chat = await newChat(onA)
    const { streamUrl } = await send(onA, chat.id, 'delete from B')
    const reader = await openStream(onA, streamUrl)
    await reader.waitForText(t => t === 'soon gone')
    const abortedBefore = fake.aborted
    expect((await onB.fetch(`/api/chats/${chat.id}`, { method: 'DELETE' })).status).toBe(204)
    await fake.waitForAborted(abortedBefore + 1)
    expect((await onA.json('GET', `/api/chats/${chat.id}`)).status).toBe(404)
  })

  it('an instance booting while A writes an answer leaves it running (boot recovery ends only answers nobody writes)', async () => {
    const gate = paused('boot while running', ['still ', 'alive'], 1)
    const chat = await newChat(onA)
    const { assistantMessage, streamUrl } = await send(onA, chat.id, 'boot while running')
    const reader = await openStream(onB, streamUrl)
    await reader.waitForText(t => t === 'still ')
    const c = await boot()
    expect((await getChat(clientOn(c, onA), chat.id)).messages[1]!.status).toBe('streaming')
    gate.open()
    expect(expectOffsets(await reader.readUntilDone())).toBe('still alive')
    expect(await waitFinal(onA, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'still alive' })
    await c.stop()
  })

  it('kill -9 of the writing instance: its answer ends `interrupted` with its text once its lease runs out, and readers on B get the final frames', async () => {
    paused('kill the writer', ['written ', 'before ', 'the kill', ' lost'], 3)
    const c = await boot()
    const onC = clientOn(c, onA)
    const chat = await newChat(onC)
    const { assistantMessage, streamUrl } = await send(onC, chat.id, 'kill the writer')
    const reader = await openStream(onB, streamUrl)
    await reader.waitForText(t => t === 'written before the kill')
    const killedAt = Date.now()
    await c.kill()
    const frames = await reader.readUntilDone(LEASE_MS * 6)
    const tookMs = Date.now() - killedAt
    console.log(`instances: a killed writer's answer ended interrupted after ${tookMs} ms (FLUME_LEASE_MS=${LEASE_MS})`)
    expect(expectOffsets(frames)).toBe('written before the kill')
    expect(events(frames).slice(-2)).toEqual([expect.objectContaining({ type: 'error', code: 'interrupted' }), { type: 'done' }])
    expect(await getChat(onB, chat.id).then(c => c.messages[1])).toMatchObject({
      id: assistantMessage.id, status: 'error', content: 'written before the kill', error: { code: 'interrupted' },
    })
    expect(tookMs).toBeLessThan(LEASE_MS * 3)
  })

  it('a graceful shutdown of the writing instance: readers on B get its final frames', async () => {
    paused('shut the writer down', ['said ', 'so far', ' not this'], 2)
    const c = await boot()
    const onC = clientOn(c, onA)
    const chat = await newChat(onC)
    const { streamUrl } = await send(onC, chat.id, 'shut the writer down')
    const reader = await openStream(onB, streamUrl)
    await reader.waitForText(t => t === 'said so far')
    c.signal('SIGTERM')
    const frames = await reader.readUntilDone(5_000)
    expect(expectOffsets(frames)).toBe('said so far')
    expect(events(frames).slice(-2)).toEqual([expect.objectContaining({ type: 'error', code: 'interrupted' }), { type: 'done' }])
    expect(await c.exited).toBe(0)
  })

  it('nothing of a final answer stays in Redis but streams that expire', async () => {
    await poll(async () => await redis.zcard(`${prefix}running`), n => n === 0, { what: 'no running answer left' })
    expect(await redis.keys(`${prefix}lease:*`)).toEqual([])
    const streams = await redis.keys(`${prefix}run:*`)
    expect(streams.length).toBeGreaterThan(0)
    for (const key of streams) expect(await redis.pttl(key), key).toBeGreaterThan(0)
  })

  it('refuses to boot with REDIS_URL and no FLUME_SESSION_SECRET, saying why', async () => {
    await expect(boot({ FLUME_SESSION_SECRET: '' })).rejects.toThrow(/FLUME_SESSION_SECRET must be set when REDIS_URL is/)
  })
})
