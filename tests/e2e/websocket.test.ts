import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createGate } from '../support/fake-openai'
import { chatAndSend, createClient, getMessage, poll, startWithFake, waitFinal, type Env } from './helpers'
import type { Client } from '../support/http'

/** The WebSocket at /api/ws (docs/websocket.md), with the `ws` client: it can set Origin and Cookie, and sees pings. */

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_HEARTBEAT_MS: '200' })
})
afterAll(async () => {
  await env?.stop()
})

const UNICODE_CHUNKS = ['Grüße 👋🏽 ', 'from 日本語,\n', '👨‍👩‍👧‍👦 and 🇫🇷;\n\n', '```js\nconst s = "😀"\n```\n', 'data: [DONE]\n\n', 'the end 🎉']

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever the server sent
type Frame = Record<string, any>

interface Socket {
  ws: WebSocket
  frames: Frame[]
  pings: number
  send: (message: unknown) => void
  /** Resolves with the first frame (from `from` on) that matches. */
  waitFor: (match: (frame: Frame) => boolean, timeoutMs?: number) => Promise<Frame>
  closed: Promise<number>
}

function wsUrl(client: Client) {
  return `${client.baseUrl.replace(/^http/, 'ws')}/api/ws`
}

function cookieOf(client: Client) {
  return [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
}

/** Opens a socket as `client` (its cookie, the server's own Origin unless given). */
async function connect(client: Client, headers: Record<string, string> = {}): Promise<Socket> {
  const ws = new WebSocket(wsUrl(client), { headers: { cookie: cookieOf(client), origin: client.baseUrl, ...headers } })
  const frames: Frame[] = []
  const waiters = new Set<() => void>()
  let pings = 0
  ws.on('message', (data, binary) => {
    if (binary) throw new Error('a binary message')
    frames.push(JSON.parse(String(data)))
    for (const wake of waiters) wake()
  })
  ws.on('ping', () => pings++)
  const closed = new Promise<number>(resolve => ws.on('close', code => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
  })
  const socket: Socket = {
    ws,
    frames,
    get pings() {
      return pings
    },
    send: message => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    waitFor: (match, timeoutMs = 10_000) => new Promise((resolve, reject) => {
      const check = () => {
        const found = frames.find(match)
        if (!found) return
        cleanup()
        resolve(found)
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(frames).slice(0, 2000)}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    }),
    closed,
  }
  return socket
}

/** The upgrade's refusal: its status and JSON body. */
async function refusedUpgrade(url: string, headers: Record<string, string>): Promise<{ status: number, body: Frame }> {
  const ws = new WebSocket(url, { headers })
  return await new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close()
      reject(new Error('the upgrade was accepted'))
    })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }))
    })
    ws.once('error', () => { /* after unexpected-response */ })
  })
}

const done = (messageId: string) => (f: Frame) => f.messageId === messageId && f.type === 'done'

/** Checks every frame of one answer: offsets as ids, deltas joined; answers the text. */
function textOf(frames: Frame[], messageId: string, start = 0): string {
  let text = ''
  for (const f of frames.filter(f => f.messageId === messageId)) {
    if (f.type === 'delta') text += f.text
    expect(f.id, JSON.stringify(f)).toBe(start + text.length)
  }
  return text
}

describe('the WebSocket', () => {
  it('follows an answer: deltas with offsets joining to the stored content byte for byte, usage, then done', async () => {
    env.fake.enqueue({ chunks: UNICODE_CHUNKS, delayMs: 5, usage: { prompt_tokens: 7, completion_tokens: 21 } })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'unicode please')
    const socket = await connect(env.client)
    socket.send({ type: 'follow', messageId: assistantMessage.id })
    await socket.waitFor(done(assistantMessage.id))
    const stored = await getMessage(env.client, chat.id, assistantMessage.id)
    expect(stored.status).toBe('done')
    expect(textOf(socket.frames, assistantMessage.id)).toBe(stored.content)
    expect(stored.content).toBe(UNICODE_CHUNKS.join(''))
    expect(socket.frames).toContainEqual({ messageId: assistantMessage.id, id: stored.content.length, type: 'usage', promptTokens: 7, completionTokens: 21 })
    expect(socket.frames.at(-1)).toEqual({ messageId: assistantMessage.id, id: stored.content.length, type: 'done' })
    // A finished answer from the database: whole, or the rest after an offset, or only its end.
    socket.frames.length = 0
    socket.send({ type: 'follow', messageId: assistantMessage.id, offset: 10 })
    await socket.waitFor(done(assistantMessage.id))
    expect(socket.frames[0]).toEqual({ messageId: assistantMessage.id, id: stored.content.length, type: 'delta', text: stored.content.slice(10) })
    socket.frames.length = 0
    socket.send({ type: 'follow', messageId: assistantMessage.id, offset: stored.content.length })
    await socket.waitFor(done(assistantMessage.id))
    expect(socket.frames.map(f => f.type)).toEqual(['usage', 'done'])
    socket.frames.length = 0
    socket.send({ type: 'follow', messageId: assistantMessage.id, offset: stored.content.length + 1 })
    expect(await socket.waitFor(f => f.type === 'error')).toEqual({ messageId: assistantMessage.id, type: 'error', code: 'invalid_offset', message: expect.any(String) })
    socket.ws.close()
  })

  it('resumes from an offset on a new socket after the first one dropped: no gap, no duplicate', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: UNICODE_CHUNKS, delayMs: 5, pauseAfter: 3, until: gate.promise })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'resume me')
    const first = await connect(env.client)
    first.send({ type: 'follow', messageId: assistantMessage.id })
    await first.waitFor(f => f.type === 'delta' && f.id >= UNICODE_CHUNKS.slice(0, 3).join('').length)
    const before = textOf(first.frames, assistantMessage.id)
    const offset = first.frames.filter(f => f.type === 'delta').at(-1)!.id
    first.ws.terminate()
    gate.open()
    const second = await connect(env.client)
    second.send({ type: 'follow', messageId: assistantMessage.id, offset })
    await second.waitFor(done(assistantMessage.id))
    const after = textOf(second.frames, assistantMessage.id, offset)
    const stored = await getMessage(env.client, chat.id, assistantMessage.id)
    expect(before + after).toBe(stored.content)
    expect(Buffer.from(before + after)).toEqual(Buffer.from(UNICODE_CHUNKS.join('')))
    second.ws.close()
  })

  it('sends reasoning frames with "<answer>,<reasoning>" ids, and resumes from one, live and finished', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: [{ reasoning_content: 'Hmm 🤔 ' }, { reasoning_content: 'ok.' }, 'Yes', ' indeed.'], delayMs: 5, pauseAfter: 1, until: gate.promise })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'think')
    const of = (frames: Frame[], type: string) => frames.filter(f => f.type === type).map(f => f.text).join('')
    const first = await connect(env.client)
    first.send({ type: 'follow', messageId: assistantMessage.id })
    const seen = await first.waitFor(f => f.type === 'reasoning')
    expect(seen).toEqual({ messageId: assistantMessage.id, id: '0,7', type: 'reasoning', text: 'Hmm 🤔 ' })
    first.ws.terminate()
    gate.open()
    const second = await connect(env.client)
    second.send({ type: 'follow', messageId: assistantMessage.id, offset: seen.id })
    await second.waitFor(done(assistantMessage.id))
    expect(of(second.frames, 'reasoning')).toBe('ok.')
    expect(of(second.frames, 'delta')).toBe('Yes indeed.')
    expect(second.frames.at(-1)).toEqual({ messageId: assistantMessage.id, id: '11,10', type: 'done' })
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored).toMatchObject({ reasoning: 'Hmm 🤔 ok.', content: 'Yes indeed.' })
    // Finished: from the database, the same rule.
    second.frames.length = 0
    second.send({ type: 'follow', messageId: assistantMessage.id, offset: '3,4' })
    await second.waitFor(done(assistantMessage.id))
    expect(second.frames.filter(f => f.type !== 'usage').map(f => [f.type, f.id, f.text])).toEqual([
      ['reasoning', '3,10', '🤔 ok.'],
      ['delta', '11,10', ' indeed.'],
      ['done', '11,10', undefined],
    ])
    second.send({ type: 'follow', messageId: assistantMessage.id, offset: '0,11' })
    expect(await second.waitFor(f => f.type === 'error')).toMatchObject({ code: 'invalid_offset' })
    second.ws.close()
  })

  it('follows two answers on one socket at once', async () => {
    const gate = createGate()
    env.fake.enqueue(
      { chunks: ['one ', 'two ', 'three'], delayMs: 5, pauseAfter: 1, until: gate.promise, match: r => JSON.stringify(r.body).includes('first question') },
      { chunks: ['uno ', 'dos ', 'tres'], delayMs: 5, match: r => JSON.stringify(r.body).includes('second question') },
    )
    const a = await chatAndSend(env.client, 'first question')
    const b = await chatAndSend(env.client, 'second question')
    const socket = await connect(env.client)
    socket.send({ type: 'follow', messageId: a.assistantMessage.id })
    socket.send({ type: 'follow', messageId: b.assistantMessage.id })
    await socket.waitFor(done(b.assistantMessage.id))
    expect(socket.frames.some(done(a.assistantMessage.id))).toBe(false)
    gate.open()
    await socket.waitFor(done(a.assistantMessage.id))
    expect(textOf(socket.frames, a.assistantMessage.id)).toBe('one two three')
    expect(textOf(socket.frames, b.assistantMessage.id)).toBe('uno dos tres')
    socket.ws.close()
  })

  it('stop reaches the model: the upstream request is aborted, the followers get the end', async () => {
    env.fake.enqueue({ chunks: ['partial ', 'never'], delayMs: 5, hangAfter: 1 })
    const index = env.fake.completions.length
    const { chat, assistantMessage } = await chatAndSend(env.client, 'stop me')
    const upstream = await env.fake.waitForCompletion(index)
    const socket = await connect(env.client)
    socket.send({ type: 'follow', messageId: assistantMessage.id })
    await socket.waitFor(f => f.type === 'delta')
    socket.send({ type: 'stop', messageId: assistantMessage.id })
    await socket.waitFor(done(assistantMessage.id))
    expect(await upstream.outcome).toBe('aborted')
    const stored = await getMessage(env.client, chat.id, assistantMessage.id)
    expect(stored.status).toBe('stopped')
    expect(textOf(socket.frames, assistantMessage.id)).toBe(stored.content)
    expect(stored.content).toBe('partial ')
    socket.ws.close()
  })

  it('closing the socket or unfollowing does not stop generation', async () => {
    const gate = createGate()
    const gate2 = createGate()
    env.fake.enqueue(
      { chunks: ['keeps ', 'going'], delayMs: 5, pauseAfter: 1, until: gate.promise, match: r => JSON.stringify(r.body).includes('close the socket') },
      { chunks: ['also ', 'going'], delayMs: 5, pauseAfter: 1, until: gate2.promise, match: r => JSON.stringify(r.body).includes('unfollow it') },
    )
    const a = await chatAndSend(env.client, 'close the socket')
    const b = await chatAndSend(env.client, 'unfollow it')
    const socket = await connect(env.client)
    socket.send({ type: 'follow', messageId: a.assistantMessage.id })
    socket.send({ type: 'follow', messageId: b.assistantMessage.id })
    await socket.waitFor(f => f.messageId === b.assistantMessage.id && f.type === 'delta')
    socket.send({ type: 'unfollow', messageId: b.assistantMessage.id })
    await new Promise(resolve => setTimeout(resolve, 100))
    const seen = socket.frames.length
    gate2.open()
    expect((await waitFinal(env.client, b.chat.id, b.assistantMessage.id)).content).toBe('also going')
    expect(socket.frames.slice(seen).filter(f => f.messageId === b.assistantMessage.id)).toEqual([])
    await socket.waitFor(f => f.messageId === a.assistantMessage.id && f.type === 'delta')
    socket.ws.close()
    await socket.closed
    gate.open()
    const final = await waitFinal(env.client, a.chat.id, a.assistantMessage.id)
    expect(final).toMatchObject({ status: 'done', content: 'keeps going' })
  })

  it('pings an idle socket every FLUME_HEARTBEAT_MS', async () => {
    const socket = await connect(env.client)
    await poll(async () => socket.pings, n => n >= 3, { timeoutMs: 3_000, what: 'three pings' })
    socket.ws.close()
  })

  it('another identity\'s answer, an unknown id and a malformed id are not found, with nothing of the answer', async () => {
    const { assistantMessage } = await chatAndSend(env.client, 'mine only')
    const other = createClient(env.flume.url)
    await other.json('GET', '/api/chats')
    const socket = await connect(other)
    for (const messageId of [assistantMessage.id, 'x'.repeat(21), '../etc']) {
      socket.send({ type: 'follow', messageId })
      expect(await socket.waitFor(f => f.messageId === messageId)).toEqual({ messageId, type: 'error', code: 'not_found', message: expect.any(String) })
    }
    socket.send({ type: 'stop', messageId: assistantMessage.id })
    await poll(async () => socket.frames.filter(f => f.messageId === assistantMessage.id).length, n => n === 2, { what: 'not_found for the stop' })
    expect(socket.frames.filter(f => f.messageId === assistantMessage.id).map(f => f.code)).toEqual(['not_found', 'not_found'])
    expect((await waitFinal(env.client, assistantMessage.chatId, assistantMessage.id)).status).toBe('done')
    socket.ws.close()
  })

  it('answers malformed messages with invalid_request and keeps the socket open', async () => {
    const { assistantMessage } = await chatAndSend(env.client, 'after the garbage')
    const socket = await connect(env.client)
    const bad = ['not json', '[1,2]', '{"type":"dance","messageId":"abcdefghijkl"}', '{"type":"follow"}', '{"type":"follow","messageId":42}', 'x'.repeat(5000)]
    for (const message of bad) socket.send(message)
    socket.ws.send(Buffer.from('binary'), { binary: true })
    await poll(async () => socket.frames.length, n => n >= bad.length + 1, { what: 'an answer to each bad message' })
    for (const frame of socket.frames) expect(frame).toEqual({ type: 'error', code: 'invalid_request', message: expect.any(String) })
    socket.send({ type: 'follow', messageId: assistantMessage.id, offset: 'abc' })
    expect(await socket.waitFor(f => f.code === 'invalid_offset')).toMatchObject({ messageId: assistantMessage.id, type: 'error' })
    socket.send({ type: 'follow', messageId: assistantMessage.id })
    await socket.waitFor(done(assistantMessage.id))
    expect(socket.ws.readyState).toBe(WebSocket.OPEN)
    socket.ws.close()
  })

  it('closes a socket that sends a message over 64 KiB (1009)', async () => {
    const socket = await connect(env.client)
    socket.send('x'.repeat(70_000))
    expect(await socket.closed).toBe(1009)
  })

  it('refuses the upgrade without a valid session cookie (401) or from a foreign Origin (403)', async () => {
    const url = wsUrl(env.client)
    const origin = env.client.baseUrl
    expect(await refusedUpgrade(url, { origin })).toMatchObject({ status: 401, body: { status: 401, statusText: 'Unauthorized', data: { code: 'invalid_request' } } })
    expect((await refusedUpgrade(url, { origin, cookie: 'flume_session=v1.someone.abc.forged' })).status).toBe(401)
    const cookie = cookieOf(env.client)
    expect(await refusedUpgrade(url, { cookie, origin: 'https://evil.example' })).toMatchObject({ status: 403, body: { data: { code: 'forbidden_origin' } } })
    expect((await refusedUpgrade(url, { cookie, origin: origin.replace('http:', 'https:') })).status).toBe(403)
    expect((await refusedUpgrade(url, { cookie, origin: 'null' })).status).toBe(403)
    // Behind a proxy: its first X-Forwarded-Host / -Proto entries are the origin the browser saw.
    const proxied = { 'x-forwarded-host': 'chat.example, 127.0.0.1', 'x-forwarded-proto': 'https, http' }
    expect((await refusedUpgrade(url, { cookie, origin, ...proxied })).status).toBe(403)
    const socket = await connect(env.client, { origin: 'https://chat.example', ...proxied })
    socket.ws.close()
    // No Origin at all (a script, not a browser) is let through, as for the HTTP API.
    const bare = new WebSocket(url, { headers: { cookie } })
    await new Promise((resolve, reject) => {
      bare.once('open', resolve)
      bare.once('error', reject)
    })
    bare.close()
    // A plain GET is told to upgrade.
    const res = await env.client.json('GET', '/api/ws')
    expect(res.status).toBe(426)
  })
})

describe('the WebSocket under the stream cap', () => {
  let capped: Env
  beforeAll(async () => {
    capped = await startWithFake({ FLUME_MAX_STREAMS: '2' })
  })
  afterAll(async () => {
    await capped?.stop()
  })

  it('counts each followed answer as one open stream', async () => {
    const gate = createGate()
    capped.fake.defaultScenario = { chunks: ['a', 'b'], delayMs: 5, pauseAfter: 1, until: gate.promise }
    const answers = [await chatAndSend(capped.client, 'q1'), await chatAndSend(capped.client, 'q2'), await chatAndSend(capped.client, 'q3')]
    const socket = await connect(capped.client)
    for (const { assistantMessage } of answers.slice(0, 2)) socket.send({ type: 'follow', messageId: assistantMessage.id })
    await poll(async () => socket.frames.filter(f => f.type === 'delta').length, n => n >= 2, { what: 'both followed' })
    const third = answers[2]!.assistantMessage.id
    socket.send({ type: 'follow', messageId: third })
    expect(await socket.waitFor(f => f.messageId === third)).toMatchObject({ type: 'error', code: 'rate_limited' })
    // Unfollowing gives its slot back.
    socket.send({ type: 'unfollow', messageId: answers[0]!.assistantMessage.id })
    socket.send({ type: 'follow', messageId: third })
    await socket.waitFor(f => f.messageId === third && f.type === 'delta')
    gate.open()
    await socket.waitFor(done(third))
    socket.ws.close()
  })
})
