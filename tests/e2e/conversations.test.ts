import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatSchema, type Chat } from '../../shared/schemas'
import { startFlume, type FlumeServer } from '../support/flume-server'
import type { RecordedRequest } from '../support/fake-openai'
import { chatAndSend, createClient, expectError, getChat, newChat, poll, send, startWithFake, waitFinal, type Env } from './helpers'

const isTitleRequest = (r: RecordedRequest) => !r.body?.stream

async function list(env: { client: Env['client'] }, q?: string): Promise<Chat[]> {
  const res = await env.client.json('GET', q === undefined ? '/api/chats' : `/api/chats?q=${encodeURIComponent(q)}`)
  expect(res.status, res.text).toBe(200)
  return ChatSchema.array().parse(res.body)
}

describe('search and titles with a model server', () => {
  let env: Env
  beforeAll(async () => {
    env = await startWithFake({ FLUME_TITLES: 'on' })
  })
  afterAll(async () => {
    await env?.stop()
  })

  it('finds chats by title and by message text, case-insensitively, newest first', async () => {
    const rivers = await newChat(env.client, 'Rivers of EUROPE')
    const mountains = await chatAndSend(env.client, 'Tell me about the Matterhorn, please')
    await waitFinal(env.client, mountains.chat.id, mountains.assistantMessage.id)
    await newChat(env.client, 'Unrelated')

    expect((await list(env, 'europe')).map(c => c.id)).toEqual([rivers.id])
    expect((await list(env, 'MATTERHORN')).map(c => c.id)).toEqual([mountains.chat.id])
    // The answer's text is searched too (the fake answers "Hello, world!").
    expect((await list(env, 'hello, WORLD')).map(c => c.id)).toContain(mountains.chat.id)

    await send(env.client, rivers.id, 'Is the Danube longer than the Rhine?')
    const both = await list(env, 'e')
    expect(both[0]!.id).toBe(rivers.id)
    expect(both.map(c => c.id)).toContain(mountains.chat.id)
    expect(both.map(c => c.updatedAt)).toEqual([...both.map(c => c.updatedAt)].sort().reverse())
  })

  it('ignores case beyond A-Z too (accents, Cyrillic), in titles and in messages', async () => {
    const eclair = await newChat(env.client, 'Éclair recipes')
    const trip = await chatAndSend(env.client, 'Поездка в Москву')
    await waitFinal(env.client, trip.chat.id, trip.assistantMessage.id)
    await env.client.json('PATCH', `/api/chats/${trip.chat.id}`, { title: 'A trip' })
    for (const q of ['Éclair', 'éCLAIR']) expect((await list(env, q)).map(c => c.id)).toEqual([eclair.id])
    for (const q of ['поездка', 'МОСКВУ']) expect((await list(env, q)).map(c => c.id)).toEqual([trip.chat.id])
  })

  it('matches % and _ literally, and an empty q lists every chat', async () => {
    const percent = await newChat(env.client, 'Discount of 50% on snake_case')
    await newChat(env.client, 'Discount of 500 on snakeXcase')
    expect((await list(env, '50%')).map(c => c.id)).toEqual([percent.id])
    expect((await list(env, 'snake_case')).map(c => c.id)).toEqual([percent.id])
    expect((await list(env, '')).length).toBe((await list(env)).length)
    expect((await list(env, 'no chat says this 9f3k')).length).toBe(0)
  })

  it('only searches the asker\'s own chats', async () => {
    await newChat(env.client, 'Private plans about zeppelins')
    const other = createClient(env.flume.url)
    expect(await list({ client: other }, 'zeppelins')).toEqual([])
    expect((await list(env, 'zeppelins')).length).toBe(1)
  })

  it('refuses a q over 200 characters or given twice with 400 invalid_query', async () => {
    expectError(await env.client.json('GET', `/api/chats?q=${'a'.repeat(201)}`), 400, 'invalid_query')
    expectError(await env.client.json('GET', '/api/chats?q=a&q=b'), 400, 'invalid_query')
    expect((await env.client.json('GET', `/api/chats?q=${'a'.repeat(200)}`)).status).toBe(200)
  })

  it('titles a chat after its first answer with a short non-streaming call, without bumping updatedAt', async () => {
    env.fake.enqueue({ match: isTitleRequest, chunks: ['"Best hiking trails in the Alps."\n'] })
    const first = 'I want to go hiking in the Alps next summer, where should I go and what should I pack for the trip?'
    const { chat, assistantMessage } = await chatAndSend(env.client, first)
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const titled = await poll(() => getChat(env.client, chat.id), c => c.title === 'Best hiking trails in the Alps', { what: 'the generated title' })
    const request = env.fake.completions.find(r => isTitleRequest(r) && JSON.stringify(r.body.messages).includes('hiking in the Alps'))!
    expect(request.body.stream).toBeFalsy()
    expect(request.body.model).toBe('gpt-fake')
    expect(request.body.max_tokens).toBeLessThanOrEqual(32)
    const listed = (await list(env)).find(c => c.id === chat.id)!
    expect(listed.title).toBe('Best hiking trails in the Alps')
    expect(listed.updatedAt).toBe(titled.updatedAt)
    expect(Date.parse(titled.updatedAt)).toBeLessThanOrEqual(Date.parse(titled.messages[0]!.createdAt))

    // Later answers never retitle it.
    const before = env.fake.completions.filter(isTitleRequest).length
    const next = await send(env.client, chat.id, 'And in winter?')
    await waitFinal(env.client, chat.id, next.assistantMessage.id)
    await new Promise(r => setTimeout(r, 300))
    expect(env.fake.completions.filter(isTitleRequest).length).toBe(before)
    expect((await getChat(env.client, chat.id)).title).toBe('Best hiking trails in the Alps')
  })

  it('editing the first question titles the chat again, unless the person named it', async () => {
    env.fake.enqueue({ match: isTitleRequest, chunks: ['Volcanoes explained'] })
    const { chat, userMessage, assistantMessage } = await chatAndSend(env.client, 'How do volcanoes form?')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    await poll(() => getChat(env.client, chat.id), c => c.title === 'Volcanoes explained', { what: 'the generated title' })

    env.fake.enqueue({ match: isTitleRequest, chunks: ['How glaciers move'] })
    const edited = await env.client.json('POST', `/api/chats/${chat.id}/messages/${userMessage.id}/edit`, { content: 'How do glaciers move?' })
    expect(edited.status, edited.text).toBe(202)
    await waitFinal(env.client, chat.id, edited.body.assistantMessage.id)
    await poll(() => getChat(env.client, chat.id), c => c.title === 'How glaciers move', { what: 'a title for the new question' })

    await env.client.json('PATCH', `/api/chats/${chat.id}`, { title: 'Ice' })
    const again = await env.client.json('POST', `/api/chats/${chat.id}/messages/${edited.body.userMessage.id}/edit`, { content: 'Why is ice slippery?' })
    await waitFinal(env.client, chat.id, again.body.assistantMessage.id)
    await new Promise(r => setTimeout(r, 300))
    expect((await getChat(env.client, chat.id)).title).toBe('Ice')
  })

  it('keeps a title the person chose, even when they rename while the title is being written', async () => {
    const named = await newChat(env.client, 'My trip')
    const sent = await send(env.client, named.id, 'Plan a trip to Lisbon')
    await waitFinal(env.client, named.id, sent.assistantMessage.id)
    await new Promise(r => setTimeout(r, 300))
    expect((await getChat(env.client, named.id)).title).toBe('My trip')

    // Renamed after the answer finished but before the (slow) title arrives.
    env.fake.enqueue({ match: isTitleRequest, chunks: ['Generated title'], initialDelayMs: 600 })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'What is a good name for a cat?')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const renamed = await env.client.json('PATCH', `/api/chats/${chat.id}`, { title: 'Cat names' })
    expect(renamed.status, renamed.text).toBe(200)
    const request = await poll(async () => env.fake.completions.find(r => isTitleRequest(r) && JSON.stringify(r.body.messages).includes('name for a cat')), r => r !== undefined, { what: 'the title request' })
    await request!.outcome
    await new Promise(r => setTimeout(r, 200))
    expect((await getChat(env.client, chat.id)).title).toBe('Cat names')
  })

  it('titles a chat created with its question and its derived title (the web client\'s), never one created with another title', async () => {
    const asClient = await env.client.json('POST', '/api/chats', { title: 'How do tides work?', content: 'How do tides work?\nIn detail please.' })
    expect(asClient.status, asClient.text).toBe(201)
    env.fake.enqueue({ match: r => isTitleRequest(r) && JSON.stringify(r.body.messages).includes('tides work'), chunks: ['Tides explained'] })
    await waitFinal(env.client, asClient.body.id, asClient.body.messages.at(-1).id)
    await poll(() => getChat(env.client, asClient.body.id), c => c.title === 'Tides explained', { what: 'the generated title' })

    const named = await env.client.json('POST', '/api/chats', { title: 'Porto weekend', content: 'Plan a trip to Porto' })
    expect(named.status, named.text).toBe(201)
    await waitFinal(env.client, named.body.id, named.body.messages.at(-1).id)
    await new Promise(r => setTimeout(r, 300))
    expect(env.fake.completions.filter(r => isTitleRequest(r) && JSON.stringify(r.body.messages).includes('Porto'))).toEqual([])
    expect((await getChat(env.client, named.body.id)).title).toBe('Porto weekend')
  })

  it('keeps the first words as the title when the model fails or the answer did not finish', async () => {
    env.fake.enqueue({ match: isTitleRequest, status: 500 })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'Why is the sky blue?')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    await poll(async () => env.fake.completions.filter(r => isTitleRequest(r) && JSON.stringify(r.body.messages).includes('sky blue')).length, n => n === 1, { what: 'the failed title request' })
    await new Promise(r => setTimeout(r, 200))
    expect((await getChat(env.client, chat.id)).title).toBe('Why is the sky blue?')

    const before = env.fake.completions.filter(isTitleRequest).length
    env.fake.enqueue({ match: r => !isTitleRequest(r), status: 500 })
    const failed = await chatAndSend(env.client, 'This answer fails')
    expect((await waitFinal(env.client, failed.chat.id, failed.assistantMessage.id)).status).toBe('error')
    await new Promise(r => setTimeout(r, 300))
    expect(env.fake.completions.filter(isTitleRequest).length).toBe(before)
    expect((await getChat(env.client, failed.chat.id)).title).toBe('This answer fails')
  })
})

describe('titles on the demo model', () => {
  let flume: FlumeServer
  beforeAll(async () => {
    flume = await startFlume({ FLUME_DEMO_DELAY_MS: '0', FLUME_TITLES: 'on' })
  })
  afterAll(async () => {
    await flume?.stop()
  })

  it('keeps the truncated first message as the title', async () => {
    const client = createClient(flume.url)
    const long = `Explain ${'very '.repeat(30)}carefully how tides work`
    const { chat, assistantMessage } = await chatAndSend(client, long)
    expect((await waitFinal(client, chat.id, assistantMessage.id)).status).toBe('done')
    await new Promise(r => setTimeout(r, 300))
    const { title } = await getChat(client, chat.id)
    expect(title.length).toBeLessThanOrEqual(60)
    expect(title.endsWith('…')).toBe(true)
    expect(long.startsWith(title.slice(0, -1))).toBe(true)
    expect((await list({ client }, 'tides')).map(c => c.id)).toEqual([chat.id])
  })
})
