import { request } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate, startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, openStream } from '../support/http'
import { chatAndSend, events, expectOffsets, getChat, newChat } from './helpers'

const GRACE_MS = 1500

let fake: FakeOpenAI
let dataDir: string
const servers: FlumeServer[] = []
const gates: Array<() => void> = []

async function boot() {
  const flume = await startFlume({
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'test',
    FLUME_MODEL: 'gpt-fake',
    FLUME_UPSTREAM_MAX_RETRIES: '0',
    FLUME_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    FLUME_HEARTBEAT_MS: '200',
  }, { dataDir })
  servers.push(flume)
  return flume
}

const lastUser = (content: string) => (req: { body?: { messages?: { role: string, content: string }[] } }) =>
  req.body?.messages?.at(-1)?.content === content

/** A POST whose body is only half sent: it is in flight when the signal arrives, as at a real shutdown. */
function postInTwoParts(url: string, path: string, cookie: string, body: string) {
  const bytes = Buffer.from(body)
  const req = request(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': bytes.length, cookie },
  })
  const answer = new Promise<{ status: number, headers: Record<string, unknown>, body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
    })
    req.on('error', reject)
  })
  req.write(bytes.subarray(0, 5))
  return { finish: () => req.end(bytes.subarray(5)), answer }
}

beforeAll(async () => {
  fake = await startFakeOpenAI()
  dataDir = mkdtempSync(join(tmpdir(), 'flume-shutdown-'))
})
afterAll(async () => {
  for (const open of gates) open()
  for (const server of servers) await server.kill().catch(() => {})
  await fake?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe('graceful shutdown', () => {
  it('on SIGTERM refuses new answers, lets running ones finish within the grace period, ends the rest as interrupted with their text and final frames, and exits 0', async () => {
    const gate = createGate()
    gates.push(gate.open)
    fake.enqueue({ match: lastUser('quick'), chunks: ['Quick ', 'and ', 'done.'], delayMs: 250 })
    fake.enqueue({ match: lastUser('slow'), chunks: ['Kept ', 'text', ' never sent'], delayMs: 5, pauseAfter: 2, until: gate.promise })
    const flume = await boot()
    const client = createClient(flume.url)
    const idle = await newChat(client)
    const slow = await chatAndSend(client, 'slow')
    const quick = await chatAndSend(client, 'quick')
    const slowStream = await openStream(client, slow.streamUrl)
    const quickStream = await openStream(client, quick.streamUrl)
    await slowStream.waitForText(t => t === 'Kept text')
    await quickStream.waitForText(t => t.startsWith('Quick'))
    const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const late = postInTwoParts(flume.url, `/api/chats/${idle.id}/messages`, cookie, JSON.stringify({ content: 'too late' }))
    await new Promise(r => setTimeout(r, 100))

    const signalledAt = Date.now()
    flume.signal('SIGTERM')
    await new Promise(r => setTimeout(r, 200))
    late.finish()
    const refused = await late.answer
    expect(refused.status, refused.body).toBe(503)
    expect(refused.headers['retry-after']).toMatch(/^\d+$/)
    expect(JSON.parse(refused.body)).toMatchObject({ status: 503, data: { code: 'shutting_down' } })

    // The quick answer finishes within the grace period, as if nothing happened.
    const quickFrames = await quickStream.readUntilDone(GRACE_MS + 5_000)
    expect(expectOffsets(quickFrames)).toBe('Quick and done.')
    expect(events(quickFrames).at(-1)).toEqual({ type: 'done' })
    expect(events(quickFrames).some(e => e.type === 'error')).toBe(false)

    // The slow one ends after the grace period as interrupted, its readers get the final frames.
    const slowFrames = await slowStream.readUntilDone(GRACE_MS + 5_000)
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(GRACE_MS - 100)
    expect(expectOffsets(slowFrames)).toBe('Kept text')
    expect(events(slowFrames).slice(-2)).toEqual([
      expect.objectContaining({ type: 'error', code: 'interrupted' }),
      { type: 'done' },
    ])
    // The upstream request of the interrupted answer was aborted, not left running.
    await fake.waitForAborted(1, 5_000)

    expect(await flume.exited).toBe(0)
    expect(Date.now() - signalledAt, 'exited well before any platform would kill it').toBeLessThan(GRACE_MS + 8_000)
    expect(flume.logs()).not.toMatch(/Graceful shutdown timeout/)

    // Everything was stored: the next process finds both answers final, nothing left running.
    const next = await boot()
    const again = createClient(next.url)
    for (const [k, v] of client.cookies) again.cookies.set(k, v)
    const stored = (await getChat(again, quick.chat.id)).messages.at(-1)!
    expect(stored).toMatchObject({ status: 'done', content: 'Quick and done.' })
    expect((await getChat(again, slow.chat.id)).messages.at(-1)).toMatchObject({
      status: 'error', content: 'Kept text', error: { code: 'interrupted' },
    })
    expect((await getChat(again, idle.id)).messages).toEqual([])
    expect(next.logs()).not.toMatch(/interrupted by a restart/)
    await next.stop()
  })

  it('answers health checks with the state of its database', async () => {
    const flume = await boot()
    const res = await fetch(`${flume.url}/api/health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ ok: true, database: 'ok' })
    await flume.stop()
  })
})
