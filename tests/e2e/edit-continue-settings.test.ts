import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatSchema, PostMessageResponseSchema, RetryResponseSchema } from '../../shared/schemas'
import { createGate } from '../support/fake-openai'
import { openStream } from '../support/http'
import { chatAndSend, createClient, expectError, expectOffsets, getChat, newChat, poll, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

type Turn = { role: string, content: string }
const lastRequest = () => env.fake.completions.at(-1)!.body as { messages: Turn[], temperature?: number }
const slow = (n: number, delayMs = 20) => ({ chunks: Array.from({ length: n }, (_, i) => `w${i} `), delayMs })

describe('chat settings: system prompt and temperature', () => {
  it('stores them with PATCH, sends them upstream, and forgets them with null', async () => {
    const chat = await newChat(env.client)
    const res = await env.client.json('PATCH', `/api/chats/${chat.id}`, { systemPrompt: 'Answer like a pirate.', temperature: 0.3 })
    expect(res.status, res.text).toBe(200)
    expect(ChatSchema.parse(res.body)).toMatchObject({ systemPrompt: 'Answer like a pirate.', temperature: 0.3, updatedAt: chat.updatedAt })
    expect(await getChat(env.client, chat.id)).toMatchObject({ systemPrompt: 'Answer like a pirate.', temperature: 0.3 })

    const sent = await send(env.client, chat.id, 'Hello')
    await waitFinal(env.client, chat.id, sent.assistantMessage.id)
    expect(lastRequest().messages).toEqual([{ role: 'system', content: 'Answer like a pirate.' }, { role: 'user', content: 'Hello' }])
    expect(lastRequest().temperature).toBe(0.3)

    const cleared = await env.client.json('PATCH', `/api/chats/${chat.id}`, { systemPrompt: '  ', temperature: null })
    expect(cleared.status, cleared.text).toBe(200)
    expect(cleared.body).not.toHaveProperty('systemPrompt')
    expect(cleared.body).not.toHaveProperty('temperature')
    const again = await send(env.client, chat.id, 'Again')
    await waitFinal(env.client, chat.id, again.assistantMessage.id)
    expect(lastRequest().messages[0]).toEqual({ role: 'user', content: 'Hello' })
    expect(lastRequest()).not.toHaveProperty('temperature')
  })

  it('rejects bad settings with 400 and keeps the old ones', async () => {
    const chat = await newChat(env.client)
    await env.client.json('PATCH', `/api/chats/${chat.id}`, { temperature: 1 })
    for (const body of [{ temperature: 2.5 }, { temperature: -1 }, { temperature: '1' }, { systemPrompt: 'x'.repeat(20_001) }, { systemPrompt: 3 }, {}]) {
      expectError(await env.client.json('PATCH', `/api/chats/${chat.id}`, body), 400, 'invalid_body')
    }
    expect(await getChat(env.client, chat.id)).toMatchObject({ temperature: 1 })
    expectError(await createClient(env.flume.url).json('PATCH', `/api/chats/${chat.id}`, { temperature: 0 }), 404, 'not_found')
  })
})

describe('chat list: streaming', () => {
  it('marks a chat whose answer is being written, and clears the mark when it ends', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['a ', 'b'], pauseAfter: 1, until: gate.promise })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'Busy chat')
    const idle = await newChat(env.client, 'Idle chat')
    const list = async () => ChatSchema.array().parse((await env.client.json('GET', '/api/chats')).body)
    const running = await list()
    expect(running.find(c => c.id === chat.id)?.streaming).toBe(true)
    expect(running.find(c => c.id === idle.id)?.streaming).toBe(false)
    const found = ChatSchema.array().parse((await env.client.json('GET', '/api/chats?q=Busy')).body)
    expect(found.map(c => [c.id, c.streaming])).toEqual([[chat.id, true]])

    gate.open()
    await waitFinal(env.client, chat.id, assistantMessage.id)
    expect((await list()).find(c => c.id === chat.id)?.streaming).toBe(false)
  })
})

describe('POST .../messages/:messageId/edit', () => {
  it('replaces the question and everything after it, and asks again with the history before it', async () => {
    const { chat, assistantMessage: a1 } = await chatAndSend(env.client, 'First question')
    await waitFinal(env.client, chat.id, a1.id)
    const second = await send(env.client, chat.id, 'Second question')
    await waitFinal(env.client, chat.id, second.assistantMessage.id)
    const third = await send(env.client, chat.id, 'Third question')
    await waitFinal(env.client, chat.id, third.assistantMessage.id)

    env.fake.enqueue({ chunks: ['Edited ', 'answer.'] })
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${second.userMessage.id}/edit`, { content: 'Second question, better' })
    expect(res.status, res.text).toBe(202)
    const { userMessage, assistantMessage, streamUrl } = PostMessageResponseSchema.parse(res.body)
    expect(userMessage).toMatchObject({ role: 'user', content: 'Second question, better' })
    expect(userMessage.id).not.toBe(second.userMessage.id)
    const stream = await openStream(env.client, streamUrl)
    expect(expectOffsets(await stream.readUntilDone(5000))).toBe('Edited answer.')

    const stored = await getChat(env.client, chat.id)
    expect(stored.messages.map(m => [m.role, m.content])).toEqual([
      ['user', 'First question'],
      ['assistant', a1.content || expect.any(String)],
      ['user', 'Second question, better'],
      ['assistant', 'Edited answer.'],
    ])
    expect(stored.messages[3]!.id).toBe(assistantMessage.id)
    expect(lastRequest().messages.map(t => t.content)).toEqual(['First question', stored.messages[1]!.content, 'Second question, better'])
  })

  it('editing the first question gives the chat a title from the new words, unless the person named it', async () => {
    const { chat, userMessage, assistantMessage } = await chatAndSend(env.client, 'Tell me about volcanoes')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    expect((await getChat(env.client, chat.id)).title).toBe('Tell me about volcanoes')
    const edit = async (id: string, content: string) => {
      const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${id}/edit`, { content })
      expect(res.status, res.text).toBe(202)
      const exchange = PostMessageResponseSchema.parse(res.body)
      await waitFinal(env.client, chat.id, exchange.assistantMessage.id)
      return exchange
    }
    const edited = await edit(userMessage.id, 'Tell me about glaciers')
    expect((await getChat(env.client, chat.id)).title).toBe('Tell me about glaciers')

    await env.client.json('PATCH', `/api/chats/${chat.id}`, { title: 'Earth science' })
    await edit(edited.userMessage.id, 'Tell me about deserts')
    expect((await getChat(env.client, chat.id)).title).toBe('Earth science')
  })

  it('stops an answer still running before replacing it, and aborts its upstream request', async () => {
    const before = env.fake.completions.length
    env.fake.enqueue(slow(200))
    const { chat, userMessage, assistantMessage } = await chatAndSend(env.client, 'Slow question')
    const running = await poll(async () => env.fake.completions[before], request => request !== undefined, { what: 'the upstream request' })
    env.fake.enqueue({ chunks: ['Quick.'] })
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${userMessage.id}/edit`, { content: 'Quick question' })
    expect(res.status, res.text).toBe(202)
    const { assistantMessage: next } = PostMessageResponseSchema.parse(res.body)
    expect(await waitFinal(env.client, chat.id, next.id)).toMatchObject({ status: 'done', content: 'Quick.' })
    expect(await running!.outcome).toBe('aborted')
    const stored = await getChat(env.client, chat.id)
    expect(stored.messages.map(m => m.content)).toEqual(['Quick question', 'Quick.'])
    expect(stored.messages.some(m => m.id === assistantMessage.id)).toBe(false)
  })

  it('answers 409 for an answer, 404 for a stranger or an unknown message, 400/413 for bad content', async () => {
    const { chat, userMessage, assistantMessage } = await chatAndSend(env.client, 'Keep me')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const edit = (id: string, body: unknown, client = env.client) => client.json('POST', `/api/chats/${chat.id}/messages/${id}/edit`, body)
    expectError(await edit(assistantMessage.id, { content: 'x' }), 409, 'not_editable')
    expectError(await edit(userMessage.id, { content: 'x' }, createClient(env.flume.url)), 404, 'not_found')
    expectError(await edit('abcdefghijklmnopqrstuv', { content: 'x' }), 404, 'not_found')
    expectError(await edit(userMessage.id, { content: '   ' }), 400, 'invalid_body')
    expectError(await edit(userMessage.id, { content: 'x'.repeat(100_001) }), 413, 'too_large')
    expectError(await edit(userMessage.id, { content: 'x', model: 'no-such-model' }), 400, 'unknown_model')
    expect((await getChat(env.client, chat.id)).messages.map(m => m.content)).toEqual(['Keep me', expect.any(String)])
  })
})

describe('POST .../messages/:messageId/continue', () => {
  it('goes on from where a failed answer ended: same message, old text kept, the model sees the partial answer', async () => {
    env.fake.enqueue({ chunks: ['Rivers ', 'begin ', 'in '], delayMs: 5, dropAfter: 3, usage: { prompt_tokens: 5, completion_tokens: 3 } })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'Tell me about rivers')
    const failed = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(failed).toMatchObject({ status: 'error', content: 'Rivers begin in ' })

    env.fake.enqueue({ chunks: ['the ', 'mountains.'], usage: { prompt_tokens: 20, completion_tokens: 2 } })
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/continue`)
    expect(res.status, res.text).toBe(202)
    const { assistantMessage: reopened, streamUrl } = RetryResponseSchema.parse(res.body)
    expect(reopened).toMatchObject({ id: assistantMessage.id, content: 'Rivers begin in ', status: 'pending' })
    expect(reopened).not.toHaveProperty('error')

    // A reader that has the old text follows only the new text; a fresh reader gets it all.
    const tail = await openStream(env.client, `${streamUrl}?offset=${failed.content.length}`)
    expect(expectOffsets(await tail.readUntilDone(5000), failed.content.length)).toBe('the mountains.')
    const whole = await openStream(env.client, streamUrl)
    expect(expectOffsets(await whole.readUntilDone(5000))).toBe('Rivers begin in the mountains.')

    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored).toMatchObject({ status: 'done', content: 'Rivers begin in the mountains.' })
    expect(stored).not.toHaveProperty('error')
    const sent = lastRequest().messages
    expect(sent.slice(0, 2)).toEqual([{ role: 'user', content: 'Tell me about rivers' }, { role: 'assistant', content: 'Rivers begin in ' }])
    expect(sent).toHaveLength(3)
    expect(sent[2]!.role).toBe('user')
    expect((await getChat(env.client, chat.id)).messages).toHaveLength(2)
  })

  it('continues a stopped answer; a stopped call reports no usage, so the continuation\'s is stored', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['One ', 'two ', 'three '], pauseAfter: 2, until: gate.promise, usage: { prompt_tokens: 4, completion_tokens: 2 } })
    const first = env.fake.completions.length
    const { chat, assistantMessage } = await chatAndSend(env.client, 'Count')
    await poll(async () => env.fake.completions[first]?.chunksSent ?? 0, sent => sent >= 2, { what: 'two chunks sent' })
    const stopped = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    gate.open()
    expect(stopped.body).toMatchObject({ status: 'stopped' })
    const before = stopped.body.content as string
    expect(before.length).toBeGreaterThan(0)

    env.fake.enqueue({ chunks: ['four.'], usage: { prompt_tokens: 10, completion_tokens: 1 } })
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/continue`)
    expect(res.status, res.text).toBe(202)
    const done = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(done).toMatchObject({ status: 'done', content: `${before}four.` })
    // A stopped call reports no usage; the continuation's is kept (and added to any earlier one).
    expect(done.usage).toEqual({ promptTokens: 10, completionTokens: 1 })
  })

  it('answers 409 for a done, running or earlier answer, and 404 for a stranger or a question', async () => {
    const { chat, userMessage, assistantMessage } = await chatAndSend(env.client, 'Fine')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const go = (id: string, client = env.client) => client.json('POST', `/api/chats/${chat.id}/messages/${id}/continue`)
    expectError(await go(assistantMessage.id), 409, 'not_continuable')
    expectError(await go(userMessage.id), 404, 'not_found')
    expectError(await go(assistantMessage.id, createClient(env.flume.url)), 404, 'not_found')

    env.fake.enqueue(slow(100))
    const running = await send(env.client, chat.id, 'Slow')
    expectError(await go(running.assistantMessage.id), 409, 'not_continuable')
    const stopped = await env.client.json('POST', `/api/chats/${chat.id}/messages/${running.assistantMessage.id}/stop`)
    expect(stopped.body).toMatchObject({ status: 'stopped' })
    // Two at once: one continues, the other finds it already running.
    env.fake.enqueue(slow(20, 10))
    const both = await Promise.all([go(running.assistantMessage.id), go(running.assistantMessage.id)])
    expect(both.map(r => r.status).sort()).toEqual([202, 409])
    await waitFinal(env.client, chat.id, running.assistantMessage.id)
  })
})

describe('FLUME_SYSTEM_PROMPT', () => {
  it('is sent in chats without a system prompt of their own; a chat\'s own one replaces it', async () => {
    const own = await startWithFake({ FLUME_SYSTEM_PROMPT: 'Be brief.' })
    try {
      const { chat, assistantMessage } = await chatAndSend(own.client, 'Hi')
      await waitFinal(own.client, chat.id, assistantMessage.id)
      const sent = () => (own.fake.completions.at(-1)!.body as { messages: Turn[] }).messages
      expect(sent()).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }])
      await own.client.json('PATCH', `/api/chats/${chat.id}`, { systemPrompt: 'Be thorough.' })
      const next = await send(own.client, chat.id, 'Again')
      await waitFinal(own.client, chat.id, next.assistantMessage.id)
      expect(sent()[0]).toEqual({ role: 'system', content: 'Be thorough.' })
    }
    finally {
      await own.stop()
    }
  })
})
