/**
 * The AI SDK endpoint (docs/ai-sdk.md), driven by the SDK itself: `Chat` of @ai-sdk/vue with its
 * DefaultChatTransport, in Node, against the production build and the fake upstream.
 */
import { Chat } from '@ai-sdk/vue'
import { DefaultChatTransport } from 'ai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { createClient, expectError, getChat, poll, startWithFake, waitFinal, type Env } from './helpers'
import type { Client } from '../support/http'

/** @ai-sdk/vue's UIMessage: it depends on its own copy of `ai` (7.0.142), typed apart from the app's (7.0.173). */
type UIMessage = NonNullable<NonNullable<ConstructorParameters<typeof Chat>[0]>['messages']>[number]
type SdkTransport = NonNullable<NonNullable<ConstructorParameters<typeof Chat>[0]>['transport']>

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

/** A Chat talking to Flume as a browser page would: the same cookies on every request. */
function sdkChat(client: Client, init: { id?: string, messages?: UIMessage[] } = {}) {
  return new Chat<UIMessage>({
    ...init,
    transport: new DefaultChatTransport({
      api: `${client.baseUrl}/api/chat`,
      fetch: ((input: RequestInfo | URL, options?: RequestInit) => client.fetch(String(input), options)) as typeof fetch,
    }) as unknown as SdkTransport,
  })
}

const textOf = (message: UIMessage | undefined) =>
  (message?.parts ?? []).map(part => (part.type === 'text' ? part.text : '')).join('')

/** The chat as Flume gives it to the SDK (GET /api/chat/:id). */
async function stored(client: Client, sdkId: string) {
  const res = await client.json('GET', `/api/chat/${encodeURIComponent(sdkId)}`)
  expect(res.status, res.text).toBe(200)
  return res.body as { id: string, chatId: string, messages: UIMessage[] }
}

const lastAssistant = (chat: Chat<UIMessage>) => chat.messages.findLast(m => m.role === 'assistant')

async function until(check: () => boolean, what: string, timeoutMs = 10_000) {
  await poll(async () => check(), ok => ok, { timeoutMs, what })
}

/** The `data:` payloads of a UI message stream (comments, the pings, left out). */
function parts(raw: string) {
  return raw.split('\n\n').filter(frame => frame.startsWith('data: ')).map(frame => frame.slice(6)).map(data => (data === '[DONE]' ? data : JSON.parse(data)))
}

describe('POST /api/chat, the AI SDK UI message stream', () => {
  it('answers the SDK\'s body with the UI message stream: its headers, start with the answer id, one text part, finish, [DONE]', async () => {
    const client = createClient(env.flume.url)
    env.fake.enqueue({ chunks: ['Hel', 'lo!'] })
    const res = await client.fetch('/api/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'raw-chat-1', trigger: 'submit-message', messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Hi' }] }] }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    expect(res.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1')
    expect(res.headers.get('x-accel-buffering')).toBe('no')
    const chatId = res.headers.get('x-flume-chat-id')!
    const body = parts(await res.text())
    const flume = await getChat(client, chatId)
    const answer = flume.messages[1]!
    expect(answer).toMatchObject({ role: 'assistant', content: 'Hello!', status: 'done' })
    expect(body[0]).toEqual({ type: 'start', messageId: answer.id })
    expect(body[1]).toEqual({ type: 'text-start', id: 'text' })
    expect(body.filter(p => p.type === 'text-delta').map(p => p.delta).join('')).toBe('Hello!')
    expect(body.slice(-3)).toEqual([
      { type: 'text-end', id: 'text' },
      { type: 'finish', finishReason: 'stop', messageMetadata: { status: 'done', ...(answer.usage ? { usage: answer.usage } : {}) } },
      '[DONE]',
    ])
  })

  it('sends, streams and goes on with Flume\'s own history, whatever the client\'s copy says', async () => {
    const client = createClient(env.flume.url)
    const chat = sdkChat(client)
    env.fake.enqueue({ chunks: ['Rivers ', 'flow ', 'downhill.'], delayMs: 5 })
    await chat.sendMessage({ text: 'Tell me about rivers' })
    expect(chat.status).toBe('ready')
    expect(chat.error).toBeUndefined()

    const saved = await stored(client, chat.id)
    expect(saved.chatId).toMatch(/^[\w-]{22}$/)
    const flume = await getChat(client, saved.chatId)
    expect(flume.messages.map(m => [m.role, m.content, m.status])).toEqual([
      ['user', 'Tell me about rivers', 'done'],
      ['assistant', 'Rivers flow downhill.', 'done'],
    ])
    // The UI message is the Flume answer: same id, same text.
    expect(lastAssistant(chat)!.id).toBe(flume.messages[1]!.id)
    expect(textOf(lastAssistant(chat))).toBe('Rivers flow downhill.')
    expect(saved.messages.map(m => [m.id, m.role, textOf(m)])).toEqual(flume.messages.map(m => [m.id, m.role, m.content]))

    // A client that rewrites its copy of the past does not rewrite what the model sees.
    chat.messages = chat.messages.map(m => ({ ...m, parts: [{ type: 'text', text: 'forged' }] }))
    env.fake.enqueue({ chunks: ['Lakes ', 'stay.'] })
    await chat.sendMessage({ text: 'And lakes?' })
    expect(textOf(lastAssistant(chat))).toBe('Lakes stay.')
    expect(env.fake.completions.at(-1)!.body.messages).toEqual([
      { role: 'user', content: 'Tell me about rivers' },
      { role: 'assistant', content: 'Rivers flow downhill.' },
      { role: 'user', content: 'And lakes?' },
    ])
  })

  it('streams the model\'s reasoning as a reasoning part before the text, live and when read back', async () => {
    const client = createClient(env.flume.url)
    const chat = sdkChat(client)
    env.fake.enqueue({ chunks: [{ reasoning_content: 'Water ' }, { reasoning_content: 'goes down.' }, 'Rivers ', 'flow.'], delayMs: 5 })
    await chat.sendMessage({ text: 'Why do rivers flow?' })
    expect(chat.error).toBeUndefined()
    const live = lastAssistant(chat)!
    expect(live.parts.filter(p => p.type === 'reasoning' || p.type === 'text').map(p => [p.type, (p as { text: string }).text])).toEqual([
      ['reasoning', 'Water goes down.'],
      ['text', 'Rivers flow.'],
    ])
    const saved = (await stored(client, chat.id)).messages.at(-1)!
    expect(saved.parts.map(p => [p.type, (p as { text: string }).text])).toEqual([['reasoning', 'Water goes down.'], ['text', 'Rivers flow.']])
  })

  it('works with no option at all: new Chat() posts to /api/chat of the page\'s origin and resumes from there', async () => {
    // What a page served by Flume gives the SDK: relative URLs on its origin, its cookie.
    const original = globalThis.fetch
    let cookie: string | undefined
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers)
      if (cookie) headers.set('cookie', cookie)
      const res = await original(new URL(String(input), env.flume.url), { ...init, headers })
      cookie = res.headers.getSetCookie()[0]?.split(';')[0] ?? cookie
      return res
    }) as typeof fetch
    try {
      const chat = new Chat<UIMessage>({})
      env.fake.enqueue({ chunks: ['Plain ', 'defaults.'] })
      await chat.sendMessage({ text: 'Defaults?' })
      expect(chat.status).toBe('ready')
      expect(chat.messages.map(m => [m.role, textOf(m)])).toEqual([['user', 'Defaults?'], ['assistant', 'Plain defaults.']])
      await chat.resumeStream()
      expect(chat.status).toBe('ready')
      expect(chat.messages).toHaveLength(2)
    }
    finally {
      globalThis.fetch = original
    }
  })

  it('resumes after a reload: a new Chat with the stored messages gets exactly the stored text, once', async () => {
    const client = createClient(env.flume.url)
    const gate = createGate()
    const pieces = ['Grüße ', 'aus ', '🌍\n', 'línea\r\n', '\n日本語 ', '👩‍👩‍👧 ', '"quotes" ', '\\ and \u2028 done.']
    env.fake.enqueue({ chunks: pieces, delayMs: 5, pauseAfter: 3, until: gate.promise })
    const first = sdkChat(client)
    const sending = first.sendMessage({ text: 'Say hello in many ways' })
    await until(() => textOf(lastAssistant(first)) === pieces.slice(0, 3).join(''), 'the first pieces')
    // The page goes away: its request is aborted, the answer goes on.
    await first.stop()
    await sending

    const saved = await stored(client, first.id)
    expect(saved.messages.map(m => m.role)).toEqual(['user', 'assistant'])
    expect((saved.messages[1]!.metadata as { status: string }).status).toMatch(/^(pending|streaming)$/)
    // Two reloaded pages: one restored the partial answer, one only the question.
    const withPartial = sdkChat(client, { id: first.id, messages: saved.messages })
    const withoutIt = sdkChat(client, { id: first.id, messages: saved.messages.slice(0, 1) })
    const resumed = [withPartial.resumeStream(), withoutIt.resumeStream()]
    await until(() => withPartial.status === 'streaming' && withoutIt.status === 'streaming', 'both to resume')
    gate.open()
    await Promise.all(resumed)

    const answer = (await getChat(client, saved.chatId)).messages[1]!
    expect(answer).toMatchObject({ status: 'done', content: pieces.join('') })
    for (const chat of [withPartial, withoutIt]) {
      expect(chat.status).toBe('ready')
      expect(chat.messages.map(m => m.role)).toEqual(['user', 'assistant'])
      const message = lastAssistant(chat)!
      expect(message.id).toBe(answer.id)
      expect(message.parts.filter(p => p.type === 'text')).toHaveLength(1)
      expect(textOf(message)).toBe(answer.content)
      expect(message.metadata).toMatchObject({ status: 'done' })
    }

    // Nothing runs any more: the SDK does not resume (204), the messages stay as they are.
    const later = sdkChat(client, { id: first.id, messages: withPartial.messages })
    await later.resumeStream()
    expect(later.status).toBe('ready')
    expect(later.messages).toEqual(withPartial.messages)
    expect((await client.fetch(`/api/chat/${first.id}/stream`)).status).toBe(204)
  })

  it('regenerates the last answer in its place, without the old one in the model\'s history', async () => {
    const client = createClient(env.flume.url)
    const chat = sdkChat(client)
    env.fake.enqueue({ chunks: ['First ', 'take.'] })
    await chat.sendMessage({ text: 'Name a river' })
    const oldId = lastAssistant(chat)!.id

    env.fake.enqueue({ chunks: ['Second ', 'take.'] })
    await chat.regenerate()
    expect(chat.status).toBe('ready')
    expect(chat.messages.map(m => [m.role, textOf(m)])).toEqual([['user', 'Name a river'], ['assistant', 'Second take.']])
    const saved = await stored(client, chat.id)
    const flume = await getChat(client, saved.chatId)
    expect(flume.messages.map(m => [m.role, m.content])).toEqual([['user', 'Name a river'], ['assistant', 'Second take.']])
    expect(lastAssistant(chat)!.id).toBe(flume.messages[1]!.id)
    expect(flume.messages[1]!.id).not.toBe(oldId)
    expect(env.fake.completions.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'Name a river' }])
  })

  it('stop(): the SDK\'s abort leaves the answer running; POST /api/chat/:id/stop stops it upstream', async () => {
    const client = createClient(env.flume.url)
    env.fake.enqueue({ chunks: Array.from({ length: 200 }, (_, i) => `w${i} `), delayMs: 20 })
    const chat = sdkChat(client)
    const sending = chat.sendMessage({ text: 'Count slowly' })
    await until(() => textOf(lastAssistant(chat)).length > 0, 'some text')
    const upstream = env.fake.completions.at(-1)!
    await chat.stop()
    await sending
    expect(chat.status).toBe('ready')
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(upstream.result).toBeUndefined()

    // Another page follows it while it is stopped: its stream ends with `abort`, not an error.
    const follower = sdkChat(client, { id: chat.id })
    const following = follower.resumeStream()
    await until(() => textOf(lastAssistant(follower)).length > 0, 'the follower to read')
    const res = await client.json('POST', `/api/chat/${chat.id}/stop`, {})
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ role: 'assistant', status: 'stopped' })
    expect(await upstream.outcome).toBe('aborted')
    await following
    expect(follower.status).toBe('ready')
    expect(follower.error).toBeUndefined()
    expect(lastAssistant(follower)!.metadata).toMatchObject({ status: 'stopped' })
    expect(textOf(lastAssistant(follower))).toBe(res.body.content)

    // Nothing runs now.
    const again = await client.fetch(`/api/chat/${chat.id}/stop`, { method: 'POST' })
    expect(again.status).toBe(204)
  })

  it('an upstream error is the SDK\'s error, with Flume\'s message; the partial text stays', async () => {
    const client = createClient(env.flume.url)
    env.fake.enqueue({ chunks: ['Half ', 'an ', 'answer'], delayMs: 5, dropAfter: 2 })
    const chat = sdkChat(client)
    await chat.sendMessage({ text: 'Fail halfway' })
    expect(chat.status).toBe('error')
    const saved = await stored(client, chat.id)
    const answer = (await getChat(client, saved.chatId)).messages[1]!
    expect(answer).toMatchObject({ status: 'error', content: 'Half an ' })
    expect(chat.error?.message).toBe(answer.error!.message)
    expect(textOf(lastAssistant(chat))).toBe('Half an ')
    expect(lastAssistant(chat)!.metadata).toMatchObject({ status: 'error', error: answer.error })

    env.fake.enqueue({ status: 401, errorMessage: 'bad key' })
    const refused = sdkChat(client)
    await refused.sendMessage({ text: 'Refused at once' })
    expect(refused.status).toBe('error')
    const failed = (await getChat(client, (await stored(client, refused.id)).chatId)).messages[1]!
    expect(failed.status).toBe('error')
    expect(refused.error?.message).toBe(failed.error!.message)
  })

  it('another identity never reaches a chat by its SDK id nor by its Flume id', async () => {
    const owner = createClient(env.flume.url)
    const stranger = createClient(env.flume.url)
    const gate = createGate()
    env.fake.enqueue({ chunks: ['secret ', 'plans ', 'here'], pauseAfter: 1, until: gate.promise })
    const mine = sdkChat(owner, { id: 'shared-name' })
    const sending = mine.sendMessage({ text: 'My secret question' })
    await until(() => textOf(lastAssistant(mine)).length > 0, 'the owner\'s answer to start')
    const flumeId = (await stored(owner, 'shared-name')).chatId

    for (const sdkId of ['shared-name', flumeId]) {
      const theirs = await stored(stranger, sdkId)
      expect(theirs.messages).toEqual([])
      expect(theirs.chatId).not.toBe(flumeId)
      expect((await stranger.fetch(`/api/chat/${sdkId}/stream`)).status).toBe(204)
      expect((await stranger.fetch(`/api/chat/${sdkId}/stop`, { method: 'POST' })).status).toBe(204)
      const resumed = sdkChat(stranger, { id: sdkId })
      await resumed.resumeStream()
      expect(resumed.messages).toEqual([])
    }
    expectError(await stranger.json('GET', `/api/chats/${flumeId}`), 404, 'not_found')

    // The stranger's own chat of that name is theirs alone: the model sees none of the owner's words.
    env.fake.enqueue({ chunks: ['Yours.'] })
    const theirs = sdkChat(stranger, { id: 'shared-name' })
    await theirs.sendMessage({ text: 'What was asked here?' })
    expect(env.fake.completions.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'What was asked here?' }])

    gate.open()
    await sending
    expect(textOf(lastAssistant(mine))).toBe('secret plans here')
    expect((await getChat(owner, flumeId)).messages.map(m => m.content)).toEqual(['My secret question', 'secret plans here'])
  })

  it('bad bodies answer 4xx with data.code and store nothing', async () => {
    const client = createClient(env.flume.url)
    const post = (body: unknown) => client.json('POST', '/api/chat', body)
    const user = (parts: unknown[]) => ({ id: 'bad-bodies', messages: [{ id: 'u', role: 'user', parts }] })
    expectError(await post({}), 400, 'invalid_body')
    expectError(await post({ id: 'bad-bodies' }), 400, 'invalid_body')
    expectError(await post({ id: 'bad-bodies', messages: 'hi' }), 400, 'invalid_body')
    expectError(await post({ id: '', messages: [] }), 400, 'invalid_body')
    expectError(await post({ ...user([{ type: 'text', text: 'hi' }]), id: 'bad\nid' }), 400, 'invalid_body')
    expectError(await post({ ...user([{ type: 'text', text: 'hi' }]), trigger: 'bogus' }), 400, 'invalid_body')
    expectError(await post({ id: 'bad-bodies', messages: [{ id: 'a', role: 'assistant', parts: [{ type: 'text', text: 'hi' }] }] }), 400, 'invalid_body')
    expectError(await post(user([{ type: 'text', text: '   ' }])), 400, 'invalid_body')
    expectError(await post(user([{ type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,AA==' }, { type: 'text', text: 'what is this?' }])), 415, 'unsupported_attachment')
    expectError(await post(user([{ type: 'file', mediaType: 'image/png', url: 'https://example.com/cat.png' }, { type: 'text', text: 'fetch this' }])), 400, 'invalid_body')
    expectError(await post(user([{ type: 'file', mediaType: 'text/plain', url: 'data:text/plain;base64,not base64!' }])), 400, 'invalid_body')
    expectError(await post(user([{ type: 'file', mediaType: 'text/plain', url: '/api/attachments/no-such-upload' }])), 400, 'invalid_body')
    expectError(await post(user([{ type: 'file', mediaType: 'text/plain' }])), 400, 'invalid_body')
    expectError(await post(user([{ type: 'text', text: 'nul \u0000 here' }])), 400, 'invalid_body')
    expectError(await post(user([{ type: 'text', text: 'x'.repeat(100_001) }])), 413, 'too_large')
    expectError(await client.raw('POST', '/api/chat', 'not json'), 400, 'invalid_body')
    expectError(await client.raw('POST', '/api/chat', JSON.stringify(user([{ type: 'text', text: 'hi' }])), { 'content-type': 'text/plain' }), 415, 'unsupported_media_type')
    expectError(await post({ ...user([]), trigger: 'regenerate-message' }), 409, 'not_retryable')
    expectError(await post({ ...user([{ type: 'text', text: 'hi' }]), model: 'no-such-model' }), 400, 'unknown_model')
    expect((await stored(client, 'bad-bodies')).messages).toEqual([])
  })
})

describe('POST /api/chat with files (docs/ai-sdk.md, Files)', () => {
  /** The bytes of a PNG (its signature is what makes it one to Flume). */
  const PNG = Buffer.from([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 1, 2, 3, 4])
  const pngPart = { type: 'file' as const, mediaType: 'image/png', filename: 'dot.png', url: `data:image/png;base64,${PNG.toString('base64')}` }

  it('sends a data: URL image and an uploaded text file as the model\'s image_url and delimited text; reads them back as file parts; an edit keeps one', async () => {
    const client = createClient(env.flume.url)
    const up = await client.raw('POST', '/api/attachments?name=notes.md', '# Notes\nrivers', { 'content-type': 'text/markdown' })
    expect(up.status, up.text).toBe(201)
    const chat = sdkChat(client)
    env.fake.enqueue({ chunks: ['A dot ', 'and notes.'] })
    const before = env.fake.completions.length
    await chat.sendMessage({ text: 'What are these?', files: [pngPart, { type: 'file', mediaType: 'text/markdown', filename: 'notes.md', url: up.body.url }] })
    expect(chat.error).toBeUndefined()
    expect(textOf(lastAssistant(chat))).toBe('A dot and notes.')
    expect(env.fake.completions[before]!.body.messages).toEqual([{
      role: 'user',
      content: [
        { type: 'text', text: 'What are these?\n\n<file name="notes.md">\n# Notes\nrivers\n</file>' },
        { type: 'image_url', image_url: { url: pngPart.url } },
      ],
    }])

    // Read back: the question's files are file parts with their Flume urls, before its words.
    const saved = await stored(client, chat.id)
    const question = saved.messages[0]!
    const files = question.parts.filter(p => p.type === 'file') as { url: string, mediaType: string, filename: string }[]
    expect(files.map(f => [f.filename, f.mediaType])).toEqual([['dot.png', 'image/png'], ['notes.md', 'text/plain']])
    expect(files[1]!.url).toBe(up.body.url)
    expect(question.parts.at(-1)).toMatchObject({ type: 'text', text: 'What are these?' })
    const image = await client.fetch(files[0]!.url)
    expect(image.headers.get('content-type')).toBe('image/png')
    expect(Buffer.from(await image.arrayBuffer())).toEqual(PNG)

    // After a reload, an edit of that question keeping the image only: the text file is gone.
    const reloaded = sdkChat(client, { id: chat.id, messages: saved.messages })
    env.fake.enqueue({ chunks: ['Just a dot.'] })
    await reloaded.sendMessage({ messageId: question.id, text: 'And now?', files: [files[0]! as typeof pngPart] })
    expect(reloaded.error).toBeUndefined()
    expect(env.fake.completions.at(-1)!.body.messages).toEqual([{
      role: 'user',
      content: [{ type: 'text', text: 'And now?' }, { type: 'image_url', image_url: { url: pngPart.url } }],
    }])
    expect((await client.fetch(up.body.url)).status).toBe(404)
    const flume = await getChat(client, saved.chatId)
    expect(flume.messages[0]!.attachments!.map(f => f.name)).toEqual(['dot.png'])
  })

  it('takes a photo of a few MB as the SDK posts a FileList, inline: the body may exceed 1 MB by what the files take', async () => {
    const client = createClient(env.flume.url)
    const photo = Buffer.concat([PNG, Buffer.alloc(3_000_000, 7)])
    const chat = sdkChat(client)
    env.fake.enqueue({ chunks: ['A big one.'] })
    const before = env.fake.completions.length
    await chat.sendMessage({ text: 'And this?', files: [{ ...pngPart, filename: 'photo.png', url: `data:image/png;base64,${photo.toString('base64')}` }] })
    expect(chat.error).toBeUndefined()
    expect(env.fake.completions[before]!.body.messages.at(-1).content[1].image_url.url).toBe(`data:image/png;base64,${photo.toString('base64')}`)
    // Past 1 MB and the room for the files the limits allow (about 29 MB here): 413.
    const long = { id: 'too-long', messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text: 'hi' }, { type: 'data-x', data: 'x'.repeat(30_000_000) }] }] }
    expectError(await client.json('POST', '/api/chat', long), 413, 'too_large')
  })

  it('takes files alone as the question, titled after the first', async () => {
    const client = createClient(env.flume.url)
    const chat = sdkChat(client)
    env.fake.enqueue({ chunks: ['A picture.'] })
    await chat.sendMessage({ files: [pngPart] })
    expect(chat.error).toBeUndefined()
    const saved = await stored(client, chat.id)
    expect((await getChat(client, saved.chatId)).title).toBe('dot.png')
  })

  it('a refused question takes out the files its data: URLs stored', async () => {
    const client = createClient(env.flume.url)
    // 31 unsent uploads: one short of the 32 a person may keep waiting (docs/attachments.md).
    for (let i = 0; i < 31; i++) expect((await client.raw('POST', `/api/attachments?name=${i}.txt`, `file ${i}`, { 'content-type': 'text/plain' })).status).toBe(201)
    const refused = await client.json('POST', '/api/chat', {
      id: 'refused-files',
      messages: [{ id: 'u', role: 'user', parts: [pngPart, { type: 'file', mediaType: 'text/plain', url: '/api/attachments/someone-elses' }, { type: 'text', text: 'hi' }] }],
    })
    expectError(refused, 400, 'invalid_body')
    // The image it stored is gone: there is room for one more upload, and then none.
    expect((await client.raw('POST', '/api/attachments?name=32.txt', 'file 32', { 'content-type': 'text/plain' })).status).toBe(201)
    expectError(await client.raw('POST', '/api/attachments?name=33.txt', 'file 33', { 'content-type': 'text/plain' }), 429, 'rate_limited')
    expect((await stored(client, 'refused-files')).messages).toEqual([])
  })
})

describe('POST /api/chat with the abuse limits on', () => {
  let limited: Env
  beforeAll(async () => {
    limited = await startWithFake({ FLUME_RATE_LIMITS: 'on', FLUME_LIMIT_RUNNING: '1' })
  })
  afterAll(async () => {
    await limited?.stop()
  })

  it('a refused answer is an HTTP error the SDK surfaces: 429 with Flume\'s body', async () => {
    const client = createClient(limited.flume.url)
    const gate = createGate()
    limited.fake.enqueue({ chunks: ['one ', 'two'], pauseAfter: 1, until: gate.promise })
    const first = sdkChat(client)
    const sending = first.sendMessage({ text: 'Keep running' })
    await until(() => textOf(lastAssistant(first)).length > 0, 'the first answer to run')

    const second = sdkChat(client)
    await second.sendMessage({ text: 'One too many' })
    expect(second.status).toBe('error')
    const error = second.error as Error & { statusCode?: number, responseBody?: string }
    expect(error.statusCode).toBe(429)
    expect(JSON.parse(error.responseBody!)).toMatchObject({ status: 429, data: { code: 'rate_limited' } })
    expect((await stored(client, second.id)).messages).toEqual([])

    gate.open()
    await sending
    expect(first.status).toBe('ready')
    await waitFinal(client, (await stored(client, first.id)).chatId, lastAssistant(first)!.id)
  })
})
