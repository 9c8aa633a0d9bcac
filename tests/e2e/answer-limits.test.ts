/** docs/answer-limits.md: the answer cap, the history budget, open streams per identity, offsets past a live answer's end. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { openStream, type SseStream } from '../support/http'
import { createClient, expectError, expectOffsets, newChat, poll, send, startWithFake, waitFinal, type Env } from './helpers'

const BUDGET = 60

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_MAX_ANSWER_TOKENS: '123', FLUME_HISTORY_CHARS: String(BUDGET), FLUME_MAX_STREAMS: '2' })
})
afterAll(async () => {
  await env?.stop()
})

/** Sends a question, lets the fake answer it ("Hello, world!"), and answers what the model was sent. */
async function ask(chatId: string, content: string) {
  const before = env.fake.completions.length
  const posted = await send(env.client, chatId, content)
  await waitFinal(env.client, chatId, posted.assistantMessage.id)
  const request = env.fake.completions[before]!
  return { posted, body: request.body as { max_tokens?: number, messages: { role: string, content: string }[] } }
}

describe('the answer cap', () => {
  it('sends max_tokens = FLUME_MAX_ANSWER_TOKENS with every answer, Continue included', async () => {
    const chat = await newChat(env.client)
    const { body } = await ask(chat.id, 'Say hello')
    expect(body.max_tokens).toBe(123)
    // A stopped answer, continued.
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Part ', 'one'], pauseAfter: 1, until: gate.promise })
    const second = await send(env.client, chat.id, 'Another')
    const stream = await openStream(env.client, second.streamUrl)
    await stream.waitForText(t => t === 'Part ')
    expect((await env.client.json('POST', `/api/chats/${chat.id}/messages/${second.assistantMessage.id}/stop`)).status).toBe(200)
    gate.open()
    const before = env.fake.completions.length
    const continued = await env.client.json('POST', `/api/chats/${chat.id}/messages/${second.assistantMessage.id}/continue`)
    expect(continued.status, continued.text).toBe(202)
    await waitFinal(env.client, chat.id, second.assistantMessage.id)
    expect(env.fake.completions[before]!.body.max_tokens).toBe(123)
  })
})

describe('the history budget', () => {
  it('is advertised by GET /api/models as historyChars', async () => {
    const res = await env.client.json('GET', '/api/models')
    expect(res.status, res.text).toBe(200)
    expect(res.body.historyChars).toBe(BUDGET)
  })

  it('sends the newest whole turns that fit with the question, never starting with an answer, and a long question alone', async () => {
    const chat = await newChat(env.client)
    const [q1, q2, q3] = ['a'.repeat(20), 'b'.repeat(20), 'c'.repeat(20)]
    expect((await ask(chat.id, q1)).body.messages).toEqual([{ role: 'user', content: q1 }])
    // q1 (20) + its answer (13) + q2 (20) = 53: all of it.
    expect((await ask(chat.id, q2)).body.messages.map(m => m.content)).toEqual([q1, 'Hello, world!', q2])
    // q3 + answer + q2 = 53; + answer 1 = 66 > 60: from q2 on.
    expect((await ask(chat.id, q3)).body.messages).toEqual([
      { role: 'user', content: q2 },
      { role: 'assistant', content: 'Hello, world!' },
      { role: 'user', content: q3 },
    ])
    const long = 'd'.repeat(BUDGET + 1)
    expect((await ask(chat.id, long)).body.messages).toEqual([{ role: 'user', content: long }])
    // Nothing is deleted: the chat keeps every message.
    const all = await env.client.json('GET', `/api/chats/${chat.id}`)
    expect(all.body.messages).toHaveLength(8)
  })
})

describe('open streams per identity', () => {
  it('refuses the stream past FLUME_MAX_STREAMS with 429 rate_limited and Retry-After: 5, and takes one again once one closes', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['still ', 'going'], pauseAfter: 1, until: gate.promise })
    const chat = await newChat(env.client)
    const posted = await send(env.client, chat.id, 'A long one')
    const streams: SseStream[] = []
    try {
      for (let i = 0; i < 2; i++) {
        const stream = await openStream(env.client, posted.streamUrl)
        expect(stream.status, stream.errorText).toBe(200)
        await stream.waitForText(t => t === 'still ')
        streams.push(stream)
      }
      const refused = await env.client.json('GET', posted.streamUrl)
      expectError(refused, 429, 'rate_limited')
      expect(refused.headers.get('retry-after')).toBe('5')
      // Per identity: another person is not refused.
      const other = createClient(env.flume.url)
      const theirs = await send(other, (await newChat(other)).id, 'Mine')
      const theirStream = await openStream(other, theirs.streamUrl)
      expect(theirStream.status).toBe(200)
      theirStream.cancel()

      streams.shift()!.cancel()
      const again = await poll(async () => {
        const stream = await openStream(env.client, posted.streamUrl)
        if (stream.status !== 200) stream.cancel()
        return stream
      }, s => s.status === 200, { what: 'a stream to open again after one closed' })
      streams.push(again)
      expectError(await env.client.json('GET', posted.streamUrl), 429, 'rate_limited')
    }
    finally {
      gate.open()
    }
    // Streams that end with [DONE] are let go too: two live streams open again.
    for (const stream of streams) await stream.readUntilDone()
    const next = createGate()
    env.fake.enqueue({ chunks: ['more ', 'text'], pauseAfter: 1, until: next.promise })
    const later = await send(env.client, chat.id, 'Again')
    const live = await poll(async () => {
      const stream = await openStream(env.client, later.streamUrl)
      if (stream.status !== 200) stream.cancel()
      return stream
    }, s => s.status === 200, { what: 'streams to be released' })
    const second = await openStream(env.client, later.streamUrl)
    expect(second.status, second.errorText).toBe(200)
    next.open()
    await Promise.all([live.readUntilDone(), second.readUntilDone()])
  })
})

describe('offsets of a live answer', () => {
  it('answers 400 invalid_offset for an offset past the text so far, instead of skipping what comes until then', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Hello', ' there'], pauseAfter: 1, until: gate.promise })
    const chat = await newChat(env.client)
    const posted = await send(env.client, chat.id, 'Hi')
    const first = await openStream(env.client, posted.streamUrl)
    await first.waitForText(t => t === 'Hello')
    try {
      expectError(await env.client.json('GET', `${posted.streamUrl}?offset=6`), 400, 'invalid_offset')
      expectError(await env.client.json('GET', posted.streamUrl, undefined, { 'last-event-id': '1000' }), 400, 'invalid_offset')
      // Up to the end is fine: nothing is skipped.
      const atEnd = await openStream(env.client, `${posted.streamUrl}?offset=5`)
      expect(atEnd.status).toBe(200)
      gate.open()
      expect(expectOffsets(await atEnd.readUntilDone(), 5)).toBe(' there')
    }
    finally {
      gate.open()
      first.cancel()
    }
  })
})
