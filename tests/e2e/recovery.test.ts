import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate, startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, openStream } from '../support/http'
import { chatAndSend, events, expectOffsets, getChat, waitFinal } from './helpers'

const SAVE_INTERVAL_MS = 200

let fake: FakeOpenAI
let dataDir: string
const running: FlumeServer[] = []
const gates: Array<() => void> = []

async function boot() {
  const flume = await startFlume({
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'test',
    FLUME_MODEL: 'gpt-fake',
    FLUME_UPSTREAM_MAX_RETRIES: '0',
    FLUME_SAVE_INTERVAL_MS: String(SAVE_INTERVAL_MS),
  }, { dataDir })
  running.push(flume)
  return flume
}

beforeAll(async () => {
  fake = await startFakeOpenAI()
  dataDir = mkdtempSync(join(tmpdir(), 'flume-crash-'))
})
afterAll(async () => {
  for (const open of gates) open()
  for (const f of running) await f.stop().catch(() => {})
  await fake?.close()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe('crash recovery', () => {
  it('an answer cut by a crash comes back as error `interrupted`, with its saved text', async () => {
    const gate = createGate()
    gates.push(gate.open)
    fake.enqueue({ chunks: ['Saved ', 'before ', 'the crash 💥', ' but not this'], delayMs: 5, pauseAfter: 3, until: gate.promise })
    const first = await boot()
    const client = createClient(first.url)
    const { chat, userMessage, assistantMessage, streamUrl } = await chatAndSend(client, 'survive a crash')
    const stream = await openStream(client, streamUrl)
    await stream.waitForText(t => t === 'Saved before the crash 💥')
    // No observable signal for "saved": give the periodic save several turns (and over 1 s).
    await new Promise(r => setTimeout(r, Math.max(1_100, SAVE_INTERVAL_MS * 5)))
    await first.kill()
    stream.cancel()

    const second = await boot()
    const again = createClient(second.url)
    for (const [k, v] of client.cookies) again.cookies.set(k, v) // same browser, same cookie
    const full = await getChat(again, chat.id)
    expect(full.messages.map(m => m.id)).toEqual([userMessage.id, assistantMessage.id])
    expect(full.messages[0]).toMatchObject({ role: 'user', content: 'survive a crash' })
    expect(full.messages[1]).toMatchObject({
      status: 'error',
      content: 'Saved before the crash 💥',
      error: { code: 'interrupted', message: expect.any(String) },
    })

    const replay = await openStream(again, streamUrl)
    expect(replay.status).toBe(200)
    const frames = await replay.readUntilDone()
    await replay.waitEnd(3_000)
    expect(expectOffsets(frames)).toBe('Saved before the crash 💥')
    const evs = events(frames)
    expect(evs.at(-1)).toEqual({ type: 'done' })
    expect(evs.at(-2)).toMatchObject({ type: 'error', code: 'interrupted' })
    const end = 'Saved before the crash 💥'.length
    expect((await openStream(again, streamUrl, { lastEventId: end })).status).toBe(204)

    // The app works as before.
    const next = await chatAndSend(again, 'still alive?')
    expect(await waitFinal(again, next.chat.id, next.assistantMessage.id)).toMatchObject({ status: 'done', content: 'Hello, world!' })
    await second.stop()
  })

  it('a crash right after the 202 loses neither message, and the answer does not stay running', async () => {
    const gate = createGate()
    gates.push(gate.open)
    fake.enqueue({ chunks: ['never sent'], pauseAfter: 0, until: gate.promise })
    const first = await boot()
    const client = createClient(first.url)
    const { chat, userMessage, assistantMessage, streamUrl } = await chatAndSend(client, 'crash now')
    await first.kill()

    const second = await boot()
    const again = createClient(second.url)
    for (const [k, v] of client.cookies) again.cookies.set(k, v)
    const full = await getChat(again, chat.id)
    expect(full.messages.map(m => m.id)).toEqual([userMessage.id, assistantMessage.id])
    expect(full.messages[0]).toMatchObject({ content: 'crash now' })
    // A reader gets to the end of it, whatever the server decided.
    const stream = await openStream(again, streamUrl)
    expect(stream.status).toBe(200)
    const frames = await stream.readUntilDone()
    expectOffsets(frames)
    const final = await waitFinal(again, chat.id, assistantMessage.id)
    expect(['error', 'done']).toContain(final.status)
    if (final.status === 'error') expect(final.error?.code).toBe('interrupted')
    await second.stop()
  })
})
