/** docs/answer-limits.md: the answer cap, the history budget. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { openStream } from '../support/http'
import { newChat, send, startWithFake, waitFinal, type Env } from './helpers'

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
