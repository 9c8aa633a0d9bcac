/**
 * The Cloudflare build (cloudflare-module, D1) in workerd through `npm run preview:cloudflare`,
 * checked over HTTP and EventSource-style reads against the fake upstream. A second preview on
 * the same local D1 state stands for another isolate: it shares the database, not the memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatWithMessagesSchema } from '../../shared/schemas'
import { createGate, startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai'
import { startEdge, type EdgeServer } from '../support/edge'
import { createClient, openStream, poll, type Client, type SseStream } from '../support/http'
import { events, expectOffsets, getMessage, waitFinal } from '../e2e/helpers'

// The default: a busy CI machine must not take a slow save for a dead isolate.
const LEASE_MS = 5000

let fake: FakeOpenAI
let a: EdgeServer
let b: EdgeServer

beforeAll(async () => {
  fake = await startFakeOpenAI()
  const env = {
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'test',
    FLUME_MODEL: 'gpt-fake',
    FLUME_UPSTREAM_MAX_RETRIES: '0',
    FLUME_LEASE_MS: String(LEASE_MS),
  }
  a = await startEdge(env)
  b = await startEdge(env, { state: a.state })
}, 180_000)

afterAll(async () => {
  await b?.stop()
  await a?.stop()
  await fake?.close()
})

/** A chat that starts with `content`; its answer is only stored (`pending`) until a stream asks for it. */
async function startChat(client: Client, content: string) {
  const res = await client.json('POST', '/api/chats', { content })
  expect(res.status, res.text).toBe(201)
  const chat = ChatWithMessagesSchema.parse(res.body)
  return { chatId: chat.id, answer: chat.messages[1]!, streamUrl: res.body.streamUrl as string }
}

/** The time each offset of `stream` was first reached (ms). */
function arrivals(stream: SseStream) {
  const at = new Map<number, number>()
  const sample = () => {
    if (!at.has(stream.text.length)) at.set(stream.text.length, performance.now())
  }
  const timer = setInterval(sample, 5)
  return {
    at,
    stop: () => {
      sample()
      clearInterval(timer)
    },
  }
}

/** A client of `server` with `client`'s session cookie: the same person in another tab, served by another isolate. */
function sameIdentity(client: Client, server: EdgeServer): Client {
  const other = createClient(server.url)
  for (const [name, value] of client.cookies) other.cookies.set(name, value)
  return other
}

const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i} `)

describe('the Cloudflare worker (wrangler dev, local D1)', () => {
  it('serves the app page and the API', async () => {
    const client = createClient(a.url)
    const page = await client.fetch('/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('<div id="__nuxt"')
    expect((await client.json('GET', '/api/health')).body).toMatchObject({ ok: true })
  })

  it('stores the answer on POST and streams it from the fake upstream when the stream is opened', async () => {
    const client = createClient(a.url)
    const before = fake.completions.length
    fake.enqueue({ chunks: ['Hello', ' from', ' the', ' edge'], delayMs: 5, usage: { prompt_tokens: 7, completion_tokens: 4 } })
    const { chatId, answer, streamUrl } = await startChat(client, 'Say hello')
    expect(answer.status).toBe('pending')
    await new Promise(r => setTimeout(r, 200))
    expect(fake.completions.length, 'the POST only stores the answer').toBe(before)
    const stream = await openStream(client, streamUrl)
    expect(stream.status).toBe(200)
    expect(stream.headers.get('content-type')).toBe('text/event-stream')
    const frames = await stream.readUntilDone()
    expect(expectOffsets(frames)).toBe('Hello from the edge')
    expect(events(frames).slice(-2)).toEqual([{ type: 'usage', promptTokens: 7, completionTokens: 4 }, { type: 'done' }])
    const stored = await waitFinal(client, chatId, answer.id)
    expect(stored).toMatchObject({ status: 'done', content: 'Hello from the edge' })
  })

  it('resumes a reload with Last-Event-ID without gap or duplicate', async () => {
    const client = createClient(a.url)
    const gate = createGate()
    const chunks = words(12, 'r')
    fake.enqueue({ chunks, delayMs: 5, pauseAfter: 5, until: gate.promise })
    const { chatId, answer, streamUrl } = await startChat(client, 'Count')
    const first = await openStream(client, streamUrl)
    await first.waitForText(t => t === chunks.slice(0, 5).join(''))
    const lastId = [...first.frames].reverse().find(f => f.id !== undefined)!.id!
    first.cancel()
    const second = await openStream(client, streamUrl, { lastEventId: lastId })
    gate.open()
    const frames = await second.readUntilDone()
    const rest = expectOffsets(frames, Number(lastId))
    expect(first.text + rest).toBe(chunks.join(''))
    expect((await waitFinal(client, chatId, answer.id)).content).toBe(chunks.join(''))
    // A browser reconnecting after the end stops for good.
    expect((await openStream(client, streamUrl, { lastEventId: chunks.join('').length })).status).toBe(204)
  })

  it('goes on in waitUntil after the stream is closed, and saves the whole answer', async () => {
    const client = createClient(a.url)
    const chunks = words(30, 'w')
    fake.enqueue({ chunks, delayMs: 40 })
    const { chatId, answer, streamUrl } = await startChat(client, 'Write on')
    const stream = await openStream(client, streamUrl)
    await stream.waitForText(t => t.length > 0)
    stream.cancel()
    const stored = await waitFinal(client, chatId, answer.id, 20_000)
    expect(stored).toMatchObject({ status: 'done', content: chunks.join('') })
    expect(await fake.completions.at(-1)!.outcome).toBe('completed')
  })

  it('stops: the upstream request is aborted and the text so far kept', async () => {
    const client = createClient(a.url)
    const abortedBefore = fake.aborted
    fake.enqueue({ chunks: ['Partial', ' answer', ' never ends'], delayMs: 5, hangAfter: 2 })
    const { chatId, answer, streamUrl } = await startChat(client, 'Hang')
    const stream = await openStream(client, streamUrl)
    await stream.waitForText(t => t === 'Partial answer')
    const stop = await client.json('POST', `/api/chats/${chatId}/messages/${answer.id}/stop`)
    expect(stop.status, stop.text).toBe(200)
    expect(stop.body).toMatchObject({ status: 'stopped', content: 'Partial answer' })
    await fake.waitForAborted(abortedBefore + 1)
    const frames = await stream.readUntilDone()
    expect(events(frames).at(-1)).toEqual({ type: 'done' })
    expect(stream.text).toBe('Partial answer')
  })

  it('answers 404 to another identity', async () => {
    const owner = createClient(a.url)
    const other = createClient(a.url)
    fake.enqueue({ chunks: ['Mine'] })
    const { chatId, answer, streamUrl } = await startChat(owner, 'Private')
    expect((await other.json('GET', `/api/chats/${chatId}`)).status).toBe(404)
    expect((await openStream(other, streamUrl)).status).toBe(404)
    expect((await other.json('POST', `/api/chats/${chatId}/messages/${answer.id}/stop`)).status).toBe(404)
    expect((await other.json('POST', `/api/chats/${chatId}/messages`, { content: 'x' })).status).toBe(404)
    expect(await (await openStream(owner, streamUrl)).readUntilDone()).toBeTruthy()
  })

  it('lets another isolate follow the saved text, and measures how far behind it is', async () => {
    const client = createClient(a.url)
    const chunks = words(40, 'f')
    fake.enqueue({ chunks, delayMs: 100 })
    const { chatId, answer, streamUrl } = await startChat(client, 'Follow me')
    const elsewhere = sameIdentity(client, b)
    const writer = await openStream(client, streamUrl)
    await writer.waitForText(t => t.length > 0)
    const follower = await openStream(elsewhere, streamUrl)
    const [atWriter, atFollower] = [arrivals(writer), arrivals(follower)]
    const [wrote, followed] = await Promise.all([writer.readUntilDone(15_000), follower.readUntilDone(15_000)])
    atWriter.stop()
    atFollower.stop()
    expect(expectOffsets(wrote)).toBe(chunks.join(''))
    expect(expectOffsets(followed)).toBe(chunks.join(''))
    expect((await getMessage(client, chatId, answer.id)).content).toBe(chunks.join(''))
    // For each offset the writer's reader reached, how much later the follower had that text.
    const followerAt = [...atFollower.at].sort(([x], [y]) => x - y)
    const delays = [...atWriter.at].filter(([offset]) => offset > 0)
      .map(([offset, t]) => followerAt.find(([reached]) => reached >= offset)![1] - t)
    delays.sort((x, y) => x - y)
    const mean = delays.reduce((s, d) => s + d, 0) / delays.length
    console.log(`edge follower delay (save every 1000 ms, poll every 500 ms): ${delays.length} offsets, mean ${mean.toFixed(0)} ms, median ${delays[delays.length >> 1]!.toFixed(0)} ms, max ${delays.at(-1)!.toFixed(0)} ms`)
    expect(delays.length).toBeGreaterThan(0)
    expect(delays.at(-1)!).toBeLessThan(4000)
  })

  it('a stop from another isolate ends the answer there; the writer aborts and does not overwrite it', async () => {
    const client = createClient(a.url)
    const abortedBefore = fake.aborted
    const chunks = words(200, 's')
    fake.enqueue({ chunks, delayMs: 50 })
    const { chatId, answer, streamUrl } = await startChat(client, 'Stop me elsewhere')
    const elsewhere = sameIdentity(client, b)
    const writer = await openStream(client, streamUrl)
    await writer.waitForText(t => t.length > 20)
    const stop = await elsewhere.json('POST', `/api/chats/${chatId}/messages/${answer.id}/stop`)
    expect(stop.status, stop.text).toBe(200)
    expect(stop.body.status).toBe('stopped')
    await fake.waitForAborted(abortedBefore + 1, 5000)
    const frames = await writer.readUntilDone()
    expect(events(frames).at(-1)).toEqual({ type: 'done' })
    await new Promise(r => setTimeout(r, 1500))
    const stored = await getMessage(client, chatId, answer.id)
    expect(stored.status).toBe('stopped')
    // Its readers got more than was saved when the stop came: the writer stored that too.
    expect(stored.content).toBe(writer.text)
    expect(writer.text.length).toBeLessThan(chunks.join('').length)
  })

  it('ends an answer whose writer went silent as interrupted, for the reader that follows it', async () => {
    const client = createClient(a.url)
    fake.enqueue({ chunks: ['never asked'] })
    const { chatId, answer, streamUrl } = await startChat(client, 'Orphan')
    // As an isolate that claimed it, saved some text and died would leave it.
    // Its last save is dated 5 s ahead (wrangler d1 execute takes seconds to exit): it goes stale
    // LEASE_MS + 5 s after this statement runs.
    a.sql(`UPDATE messages SET status = 'streaming', content = 'Half an answer', heartbeat_at = CAST(unixepoch('subsec') * 1000 AS INTEGER) + 5000 WHERE id = '${answer.id}'`)
    const started = Date.now()
    const stream = await openStream(client, streamUrl)
    await stream.waitForText(t => t === 'Half an answer')
    const frames = await stream.readUntilDone(LEASE_MS + 15_000)
    // Followed while its heartbeat was fresh, then ended by this reader.
    expect(Date.now() - started).toBeGreaterThan(2000)
    expect(expectOffsets(stream.frames)).toBe('Half an answer')
    expect(events(frames).slice(-2)).toEqual([expect.objectContaining({ type: 'error', code: 'interrupted' }), { type: 'done' }])
    const stored = await poll(() => getMessage(client, chatId, answer.id), m => m.status !== 'streaming')
    expect(stored).toMatchObject({ status: 'error', content: 'Half an answer', error: { code: 'interrupted' } })
  }, 60_000)

  it('streams reasoning, and another isolate follows both texts from D1 without gap or duplicate', async () => {
    const client = createClient(a.url)
    const thoughts = words(8, 't')
    const chunks = words(8, 'a')
    // The test before leaves a scenario nobody asked for.
    fake.clearQueue()
    fake.enqueue({ chunks: [...thoughts.map(t => ({ reasoning_content: t })), ...chunks], delayMs: 150 })
    const { chatId, answer, streamUrl } = await startChat(client, 'Think first')
    const writer = await openStream(client, streamUrl)
    await writer.waitForFrame(f => f.id === `0,${thoughts[0]!.length}`)
    const follower = await openStream(sameIdentity(client, b), streamUrl)
    const joined = (frames: { data?: string }[], type: string) => frames.flatMap((f) => {
      const event = f.data && f.data !== '[DONE]' ? JSON.parse(f.data) as { type: string, text?: string } : undefined
      return event?.type === type ? [event.text] : []
    }).join('')
    for (const frames of await Promise.all([writer.readUntilDone(20_000), follower.readUntilDone(20_000)])) {
      expect(joined(frames, 'reasoning')).toBe(thoughts.join(''))
      expect(joined(frames, 'delta')).toBe(chunks.join(''))
    }
    expect(await waitFinal(client, chatId, answer.id)).toMatchObject({ content: chunks.join(''), reasoning: thoughts.join('') })
  })

  it('keeps attachments in D1 and sends them to the model', async () => {
    const client = createClient(a.url)
    const up = await client.raw('POST', '/api/attachments?name=notes.md', 'hello from a file', { 'content-type': 'text/markdown' })
    expect(up.status, up.text).toBe(201)
    const before = fake.completions.length
    fake.enqueue({ chunks: ['Read it.'] })
    const res = await client.json('POST', '/api/chats', { content: 'Read this', attachments: [up.body.id] })
    expect(res.status, res.text).toBe(201)
    await (await openStream(client, res.body.streamUrl)).readUntilDone()
    expect(fake.completions[before]!.body.messages.at(-1).content).toBe('Read this\n\n<file name="notes.md">\nhello from a file\n</file>')
    const file = await client.fetch(up.body.url)
    expect(file.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await file.text()).toBe('hello from a file')
  })

  it('takes files as large as a D1 row holds, and refuses larger ones with 413 before storing them', async () => {
    const client = createClient(a.url)
    expect((await client.json('GET', '/api/models')).body.attachments.bytes).toBe(1_400_000)
    const largest = 'abcdefghij\n'.repeat(127_000)
    const up = await client.raw('POST', '/api/attachments?name=large.txt', largest, { 'content-type': 'text/plain' })
    expect(up.status, up.text).toBe(201)
    expect(await (await client.fetch(up.body.url)).text()).toBe(largest)
    const over = await client.raw('POST', '/api/attachments?name=over.txt', 'x'.repeat(1_400_001), { 'content-type': 'text/plain' })
    expect(over.status, over.text).toBe(413)
    expect(over.body.data.code).toBe('attachment_too_large')
  })
})
