import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatSchema, CreateChatResponseSchema, ModelsResponseSchema, type Chat } from '../../shared/schemas'
import { createGate } from '../support/fake-openai'
import { openStream } from '../support/http'
import { chatAndSend, createClient, expectError, getChat, newChat, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

const tick = () => new Promise(r => setTimeout(r, 5)) // timestamps are in ms: keep them apart

describe('chats', () => {
  it('POST /api/chats creates a chat: 201 Chat', async () => {
    const res = await env.client.json('POST', '/api/chats', { title: 'My first chat' })
    expect(res.status).toBe(201)
    const chat = ChatSchema.parse(res.body)
    expect(chat.title).toBe('My first chat')
    expect(Number.isNaN(Date.parse(chat.createdAt))).toBe(false)
    expect(Number.isNaN(Date.parse(chat.updatedAt))).toBe(false)
  })

  it('creates a chat without a title, with or without a body', async () => {
    const empty = await env.client.json('POST', '/api/chats', {})
    expect(empty.status, empty.text).toBe(201)
    expect(typeof ChatSchema.parse(empty.body).title).toBe('string')
    const none = await env.client.fetch('/api/chats', { method: 'POST' })
    expect(none.status, await none.clone().text()).toBe(201)
    ChatSchema.parse(await none.json())
  })

  it('POST /api/chats with content starts the chat with that question in one request', async () => {
    env.fake.enqueue({ chunks: ['Rivers ', 'flow.'] })
    const res = await env.client.json('POST', '/api/chats', { content: 'Tell me about rivers, please' })
    expect(res.status, res.text).toBe(201)
    const created = CreateChatResponseSchema.parse(res.body)
    expect(created.title).toBe('Tell me about rivers, please')
    expect(created.messages!.map(m => [m.role, m.content])).toEqual([['user', 'Tell me about rivers, please'], ['assistant', '']])
    expect(['pending', 'streaming']).toContain(created.messages![1]!.status)
    const stream = await openStream(env.client, created.streamUrl!)
    await stream.readUntilDone(5000)
    expect(stream.text).toBe('Rivers flow.')
    const stored = await getChat(env.client, created.id)
    expect(stored.messages.map(m => [m.role, m.content, m.status])).toEqual([
      ['user', 'Tell me about rivers, please', 'done'],
      ['assistant', 'Rivers flow.', 'done'],
    ])
    expect((await env.client.json('GET', '/api/chats')).body.some((c: Chat) => c.id === created.id)).toBe(true)
  })

  it('POST /api/chats with content and a model remembers the model; bad input creates nothing', async () => {
    const res = await env.client.json('POST', '/api/chats', { title: 'Mine', content: 'Hi', model: 'gpt-fake' })
    expect(res.status, res.text).toBe(201)
    const created = CreateChatResponseSchema.parse(res.body)
    expect(created).toMatchObject({ title: 'Mine', model: 'gpt-fake' })
    await waitFinal(env.client, created.id, created.messages![1]!.id)
    expect(env.fake.completions.at(-1)!.body.model).toBe('gpt-fake')

    const before = (await env.client.json('GET', '/api/chats')).body.length
    expectError(await env.client.json('POST', '/api/chats', { content: '   ' }), 400, 'invalid_body')
    expectError(await env.client.json('POST', '/api/chats', { content: 'x'.repeat(100_001) }), 413, 'too_large')
    expectError(await env.client.json('POST', '/api/chats', { content: 'Hi', model: 'no-such-model' }), 400, 'unknown_model')
    expectError(await env.client.json('POST', '/api/chats', { model: 'gpt-fake' }), 400, 'invalid_body')
    expect((await env.client.json('GET', '/api/chats')).body.length).toBe(before)
  })

  it('gives unguessable, distinct ids', async () => {
    const a = await newChat(env.client)
    const b = await newChat(env.client)
    expect(a.id).not.toBe(b.id)
    expect(a.id.length).toBeGreaterThanOrEqual(16)
    expect(a.id).not.toMatch(/^\d+$/)
  })

  it('GET /api/chats lists chats most recently updated first', async () => {
    const client = createClient(env.flume.url)
    const a = await newChat(client, 'A')
    await tick()
    const b = await newChat(client, 'B')
    await tick()
    const c = await newChat(client, 'C')
    let res = await client.json<Chat[]>('GET', '/api/chats')
    expect(res.status).toBe(200)
    expect(res.body.map(x => x.id)).toEqual([c.id, b.id, a.id])
    res.body.forEach(x => ChatSchema.parse(x))

    await tick()
    const patched = await client.json('PATCH', `/api/chats/${a.id}`, { title: 'A renamed' })
    expect(patched.status).toBe(200)
    res = await client.json<Chat[]>('GET', '/api/chats')
    expect(res.body.map(x => x.id)).toEqual([a.id, c.id, b.id])
    expect(res.body[0]!.title).toBe('A renamed')
    const times = res.body.map(x => Date.parse(x.updatedAt))
    expect([...times].sort((x, y) => y - x)).toEqual(times)
  })

  it('sending a message makes its chat the most recently updated', async () => {
    const client = createClient(env.flume.url)
    const a = await newChat(client, 'A')
    await tick()
    const b = await newChat(client, 'B')
    await tick()
    const { assistantMessage } = await send(client, a.id, 'bump me')
    const res = await client.json<Chat[]>('GET', '/api/chats')
    expect(res.body.map(x => x.id)).toEqual([a.id, b.id])
    await waitFinal(client, a.id, assistantMessage.id)
  })

  it('GET /api/chats/:id returns the chat with its messages, oldest first', async () => {
    const chat = await newChat(env.client, 'history')
    const first = await send(env.client, chat.id, 'first question')
    await waitFinal(env.client, chat.id, first.assistantMessage.id)
    const second = await send(env.client, chat.id, 'second question')
    await waitFinal(env.client, chat.id, second.assistantMessage.id)
    const full = await getChat(env.client, chat.id)
    expect(full).toMatchObject({ id: chat.id, title: 'history' })
    expect(full.messages.map(m => m.id)).toEqual([
      first.userMessage.id, first.assistantMessage.id, second.userMessage.id, second.assistantMessage.id,
    ])
    expect(full.messages.map(m => m.role)).toEqual(['user', 'assistant', 'user', 'assistant'])
    expect(full.messages[0]!.content).toBe('first question')
    expect(full.messages[1]).toMatchObject({ content: 'Hello, world!', status: 'done', chatId: chat.id })
    for (const m of full.messages) expect(m.chatId).toBe(chat.id)
  })

  it('PATCH renames: 200 Chat', async () => {
    const chat = await newChat(env.client, 'old')
    const res = await env.client.json('PATCH', `/api/chats/${chat.id}`, { title: 'new' })
    expect(res.status).toBe(200)
    expect(ChatSchema.parse(res.body)).toMatchObject({ id: chat.id, title: 'new', createdAt: chat.createdAt })
    expect((await getChat(env.client, chat.id)).title).toBe('new')
  })

  it('DELETE answers 204, and the chat and its messages are gone', async () => {
    const { chat, assistantMessage } = await chatAndSend(env.client, 'to be deleted')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const res = await env.client.fetch(`/api/chats/${chat.id}`, { method: 'DELETE' })
    expect(res.status).toBe(204)
    expect(await res.text()).toBe('')
    expectError(await env.client.json('GET', `/api/chats/${chat.id}`), 404, 'not_found')
    const stream = await openStream(env.client, `/api/chats/${chat.id}/messages/${assistantMessage.id}/stream`)
    expect(stream.status).toBe(404)
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`), 404, 'not_found')
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'still there?' }), 404, 'not_found')
    const list = await env.client.json<Chat[]>('GET', '/api/chats')
    expect(list.body.map(c => c.id)).not.toContain(chat.id)
    expectError(await env.client.json('DELETE', `/api/chats/${chat.id}`), 404, 'not_found')
  })

  it('DELETE stops a running generation and aborts the upstream request', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Partial ', 'answer ', 'never ends'], pauseAfter: 2, until: gate.promise })
    const n = env.fake.completions.length
    const aborted = env.fake.aborted
    const { chat, streamUrl } = await chatAndSend(env.client, 'delete me while streaming')
    const upstream = await env.fake.waitForCompletion(n)
    const stream = await openStream(env.client, streamUrl)
    await stream.waitForText(t => t === 'Partial answer ')
    const res = await env.client.fetch(`/api/chats/${chat.id}`, { method: 'DELETE' })
    expect(res.status).toBe(204)
    await env.fake.waitForAborted(aborted + 1)
    expect(await upstream.outcome).toBe('aborted')
    // The open stream does not hang forever.
    await stream.waitEnd(5_000)
    expectError(await env.client.json('GET', `/api/chats/${chat.id}`), 404, 'not_found')
    const again = await openStream(env.client, streamUrl)
    expect(again.status).toBe(404)
    gate.open()
  })
})

describe('messages', () => {
  it('POST message answers 202 { userMessage, assistantMessage, streamUrl } and calls the upstream', async () => {
    const chat = await newChat(env.client)
    const n = env.fake.completions.length
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'What is Flume?' })
    expect(res.status, res.text).toBe(202)
    const { userMessage, assistantMessage, streamUrl } = res.body
    expect(userMessage).toMatchObject({ chatId: chat.id, role: 'user', content: 'What is Flume?' })
    expect(assistantMessage).toMatchObject({ chatId: chat.id, role: 'assistant', content: '' })
    expect(['pending', 'streaming']).toContain(assistantMessage.status)
    expect(userMessage.id).not.toBe(assistantMessage.id)
    // Relative to the origin, and the stream is really there.
    expect(streamUrl).toMatch(/^\/[^/]/)
    expect(streamUrl).not.toMatch(/^[a-z]+:/i)
    const stream = await openStream(env.client, streamUrl)
    expect(stream.status).toBe(200)
    await stream.readUntilDone()

    const upstream = await env.fake.waitForCompletion(n)
    expect(upstream.headers.authorization).toBe('Bearer test')
    expect(upstream.body).toMatchObject({
      model: 'gpt-fake',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'What is Flume?' }],
    })
  })

  it('both messages exist as soon as the 202 is sent (assistant pending or streaming)', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['slow'], initialDelayMs: 0, pauseAfter: 0, until: gate.promise })
    const { chat, userMessage, assistantMessage } = await chatAndSend(env.client, 'are you there?')
    const full = await getChat(env.client, chat.id)
    expect(full.messages.map(m => m.id)).toEqual([userMessage.id, assistantMessage.id])
    expect(full.messages[0]).toMatchObject({ role: 'user', content: 'are you there?' })
    expect(full.messages[1]!.role).toBe('assistant')
    expect(['pending', 'streaming']).toContain(full.messages[1]!.status)
    gate.open()
    const final = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(final).toMatchObject({ status: 'done', content: 'slow' })
  })

  it('sends the earlier turns as history', async () => {
    const chat = await newChat(env.client)
    env.fake.enqueue({ chunks: ['First ', 'answer'] })
    const first = await send(env.client, chat.id, 'question one')
    await waitFinal(env.client, chat.id, first.assistantMessage.id)
    const n = env.fake.completions.length
    const second = await send(env.client, chat.id, 'question two')
    await waitFinal(env.client, chat.id, second.assistantMessage.id)
    const upstream = await env.fake.waitForCompletion(n)
    expect(upstream.body.messages).toEqual([
      { role: 'user', content: 'question one' },
      { role: 'assistant', content: 'First answer' },
      { role: 'user', content: 'question two' },
    ])
  })

  it('uses the model asked for and records it on the answer', async () => {
    const chat = await newChat(env.client)
    const n = env.fake.completions.length
    const { assistantMessage } = await send(env.client, chat.id, 'which model?', 'gpt-fake-mini')
    const upstream = await env.fake.waitForCompletion(n)
    expect(upstream.body.model).toBe('gpt-fake-mini')
    const final = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(final.model).toBe('gpt-fake-mini')
  })

  it('stores usage on the finished answer', async () => {
    env.fake.enqueue({ chunks: ['counted'], usage: { prompt_tokens: 12, completion_tokens: 30 } })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'count my tokens')
    const final = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(final).toMatchObject({ status: 'done', content: 'counted', usage: { promptTokens: 12, completionTokens: 30 } })
  })
})

describe('models and health', () => {
  it('GET /api/models lists the upstream models and the default', async () => {
    const res = await env.client.json('GET', '/api/models')
    expect(res.status).toBe(200)
    const body = ModelsResponseSchema.parse(res.body)
    expect(body.models.map(m => m.id)).toEqual(expect.arrayContaining(['gpt-fake', 'gpt-fake-mini']))
    expect(body.default).toBe('gpt-fake')
    expect(env.fake.requests.some(r => r.method === 'GET' && r.path === '/v1/models')).toBe(true)
  })

  it('GET /api/health answers { ok: true }', async () => {
    const res = await env.client.json('GET', '/api/health')
    expect(res.status).toBe(200)
    expect(res.body).toEqual(expect.objectContaining({ ok: true }))
  })
})
