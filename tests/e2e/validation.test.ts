import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStream } from '../support/http'
import { chatAndSend, createClient, expectError, expectNot5xx, getChat, newChat, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
let chatId: string
beforeAll(async () => {
  env = await startWithFake()
  chatId = (await newChat(env.client, 'validation')).id
})
afterAll(async () => {
  await env?.stop()
})

describe('bad message bodies', () => {
  const path = () => `/api/chats/${chatId}/messages`

  it.each([
    ['invalid JSON', '{"content": "hi"'],
    ['a JSON string', '"hi"'],
    ['JSON null', 'null'],
    ['an array', '[{"content":"hi"}]'],
    ['missing content', '{}'],
    ['empty content', '{"content":""}'],
    ['blank content', '{"content":" \\n\\t "}'],
    ['content not a string', '{"content":42}'],
    ['content null', '{"content":null}'],
    ['model not a string', '{"content":"hi","model":7}'],
  ])('%s -> 400 invalid_body', async (_, body) => {
    const res = await env.client.raw('POST', path(), body)
    expectError(res, 400, 'invalid_body')
  })

  it('no body at all -> 400 invalid_body', async () => {
    const res = await env.client.fetch(path(), { method: 'POST' })
    const text = await res.text()
    expect(res.status, text).toBe(400)
    expect(JSON.parse(text).data.code).toBe('invalid_body')
  })

  it('nothing was stored for refused messages', async () => {
    const chat = await newChat(env.client)
    await env.client.raw('POST', `/api/chats/${chat.id}/messages`, '{"content":""}')
    await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'x'.repeat(100_001) })
    expect((await getChat(env.client, chat.id)).messages).toEqual([])
  })

  it('content of exactly 100,000 characters is accepted', async () => {
    const content = 'a'.repeat(99_999) + '!'
    const n = env.fake.completions.length
    const posted = await send(env.client, chatId, content)
    expect(posted.userMessage.content).toBe(content)
    await waitFinal(env.client, chatId, posted.assistantMessage.id)
    const upstream = await env.fake.waitForCompletion(n)
    expect(upstream.body.messages.at(-1)).toEqual({ role: 'user', content })
  })

  it('content of 100,001 characters -> 413 too_large', async () => {
    const res = await env.client.json('POST', path(), { content: 'a'.repeat(100_001) })
    expectError(res, 413, 'too_large')
  })

  it('length is counted in JavaScript string length (UTF-16), not bytes', async () => {
    // 50,000 emoji = 100,000 UTF-16 units (200,000 bytes): accepted. One more: refused.
    const ok = await env.client.json('POST', path(), { content: '😀'.repeat(50_000) })
    expect(ok.status, ok.text.slice(0, 300)).toBe(202)
    await waitFinal(env.client, chatId, ok.body.assistantMessage.id)
    expectError(await env.client.json('POST', path(), { content: '😀'.repeat(50_001) }), 413, 'too_large')
  })

  it('a body over 1 MB -> 413 too_large, even with short content', async () => {
    const padded = `{"content":"hi"${' '.repeat(1_100_000)}}`
    expectError(await env.client.raw('POST', path(), padded), 413, 'too_large')
    const padChat = `{"title":"t"${' '.repeat(1_100_000)}}`
    expectError(await env.client.raw('POST', '/api/chats', padChat), 413, 'too_large')
    expectError(await env.client.raw('PATCH', `/api/chats/${chatId}`, padChat), 413, 'too_large')
  })

  it('a body over 1 MB sent chunked (no content-length) -> 413', async () => {
    const big = new TextEncoder().encode(`{"content":"hi"${' '.repeat(1_100_000)}}`)
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < big.length; i += 64 * 1024) controller.enqueue(big.subarray(i, i + 64 * 1024))
        controller.close()
      },
    })
    const res = await env.client.fetch(path(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit)
    const text = await res.text()
    expect(res.status, text.slice(0, 300)).toBe(413)
    expect(JSON.parse(text).data.code).toBe('too_large')
  })

  it('an unknown model -> 400 unknown_model', async () => {
    expectError(await env.client.json('POST', path(), { content: 'hi', model: 'no-such-model' }), 400, 'unknown_model')
  })
})

describe('bad chat bodies', () => {
  it.each([
    ['invalid JSON', '{'],
    ['title not a string', '{"title":5}'],
    ['empty title', '{"title":""}'],
  ])('POST /api/chats with %s -> 400 invalid_body', async (_, body) => {
    expectError(await env.client.raw('POST', '/api/chats', body), 400, 'invalid_body')
  })

  it.each([
    ['invalid JSON', '{"title":'],
    ['missing title', '{}'],
    ['empty title', '{"title":""}'],
    ['blank title', '{"title":"   "}'],
    ['title not a string', '{"title":["a"]}'],
  ])('PATCH with %s -> 400 invalid_body', async (_, body) => {
    expectError(await env.client.raw('PATCH', `/api/chats/${chatId}`, body), 400, 'invalid_body')
    expect((await getChat(env.client, chatId)).title).toBe('validation')
  })
})

describe('unknown and malformed ids', () => {
  const unknown = 'AAAAAAAAAAAAAAAAAAAAAA'

  it('an unknown chat id -> 404 not_found everywhere', async () => {
    expectError(await env.client.json('GET', `/api/chats/${unknown}`), 404, 'not_found')
    expectError(await env.client.json('PATCH', `/api/chats/${unknown}`, { title: 'x' }), 404, 'not_found')
    expectError(await env.client.json('DELETE', `/api/chats/${unknown}`), 404, 'not_found')
    expectError(await env.client.json('POST', `/api/chats/${unknown}/messages`, { content: 'hi' }), 404, 'not_found')
    expectError(await env.client.json('POST', `/api/chats/${unknown}/messages/${unknown}/stop`), 404, 'not_found')
    const stream = await openStream(env.client, `/api/chats/${unknown}/messages/${unknown}/stream`)
    expect(stream.status).toBe(404)
    expect(JSON.parse(stream.errorText).data.code).toBe('not_found')
  })

  it('an unknown message id in a real chat -> 404 not_found', async () => {
    const stream = await openStream(env.client, `/api/chats/${chatId}/messages/${unknown}/stream`)
    expect(stream.status).toBe(404)
    expectError(await env.client.json('POST', `/api/chats/${chatId}/messages/${unknown}/stop`), 404, 'not_found')
  })

  it.each([
    'x',
    '%20',
    'a%2Fb',
    '..%2F..%2Fetc',
    '%00',
    '%E2%98%83',
    '%',
    'x'.repeat(2000),
    '1\'%20OR%20\'1\'=\'1',
    '%3Cscript%3E',
  ])('malformed id %s -> 400 or 404, never 5xx', async (bad) => {
    const answers = [
      await env.client.json('GET', `/api/chats/${bad}`),
      await env.client.json('PATCH', `/api/chats/${bad}`, { title: 'x' }),
      await env.client.json('DELETE', `/api/chats/${bad}`),
      await env.client.json('POST', `/api/chats/${bad}/messages`, { content: 'hi' }),
      await env.client.json('POST', `/api/chats/${chatId}/messages/${bad}/stop`),
    ]
    const stream = await openStream(env.client, `/api/chats/${chatId}/messages/${bad}/stream`)
    for (const res of [...answers, { status: stream.status, text: stream.errorText }]) {
      expectNot5xx(res)
      expect([400, 404], res.text).toContain(res.status)
    }
  })

  it('a user message id is not a stream or stoppable', async () => {
    const { chat, userMessage, assistantMessage } = await chatAndSend(env.client, 'user ids')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const stream = await openStream(env.client, `/api/chats/${chat.id}/messages/${userMessage.id}/stream`)
    expectNot5xx({ status: stream.status, text: stream.errorText })
    const stop = await env.client.json('POST', `/api/chats/${chat.id}/messages/${userMessage.id}/stop`)
    expectNot5xx(stop)
  })
})

describe('bad stream offsets are never a 5xx', () => {
  it.each(['abc', '-1', '1.5', '99999999999999999999', '', '0x10'])('offset %j', async (bad) => {
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'offsets')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const byQuery = await openStream(env.client, `${streamUrl}?offset=${encodeURIComponent(bad)}`)
    expectNot5xx({ status: byQuery.status, text: byQuery.errorText })
    byQuery.cancel()
    const byHeader = await openStream(env.client, streamUrl, { lastEventId: bad })
    expectNot5xx({ status: byHeader.status, text: byHeader.errorText })
    byHeader.cancel()
  })

  it('an offset past the end of the text is not a 5xx', async () => {
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'past the end')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const s = await openStream(env.client, `${streamUrl}?offset=100000`)
    expectNot5xx({ status: s.status, text: s.errorText })
    s.cancel()
  })
})

describe('foreign origins', () => {
  const evil = 'https://evil.example'

  it('POST, PATCH, DELETE from a foreign Origin -> 403, and nothing changes', async () => {
    const chat = await newChat(env.client, 'guarded')
    const before = env.fake.completions.length
    const h = { origin: evil }
    expectError(await env.client.json('POST', '/api/chats', { title: 'csrf' }, h), 403)
    expectError(await env.client.json('PATCH', `/api/chats/${chat.id}`, { title: 'csrf' }, h), 403)
    expectError(await env.client.json('DELETE', `/api/chats/${chat.id}`, undefined, h), 403)
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'csrf' }, h), 403)
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages/${'A'.repeat(22)}/stop`, undefined, h), 403)
    for (const action of ['retry', 'continue']) {
      expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages/${'A'.repeat(22)}/${action}`, undefined, h), 403)
    }
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages/${'A'.repeat(22)}/edit`, { content: 'csrf' }, h), 403)
    expectError(await env.client.json('PATCH', `/api/chats/${chat.id}`, { systemPrompt: 'csrf' }, h), 403)
    const after = await getChat(env.client, chat.id)
    expect(after.title).toBe('guarded')
    expect(after).not.toHaveProperty('systemPrompt')
    expect(after.messages).toEqual([])
    expect(env.fake.completions.length).toBe(before)
  })

  it.each(['null', 'http://127.0.0.1.evil.example', 'http://localhost.evil', 'garbage'])('Origin %s -> 403', async (origin) => {
    expectError(await env.client.json('POST', '/api/chats', {}, { origin }), 403)
  })

  it('a stop from a foreign Origin does not stop the answer', async () => {
    env.fake.enqueue({ chunks: ['one ', 'two ', 'three'], delayMs: 100 })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'do not stop')
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`, undefined, { origin: evil })
    expectError(res, 403)
    expect(await waitFinal(env.client, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'one two three' })
  })

  it('the same origin is accepted', async () => {
    const h = { origin: env.flume.url }
    const created = await env.client.json('POST', '/api/chats', { title: 'same origin' }, h)
    expect(created.status).toBe(201)
    const id = created.body.id
    expect((await env.client.json('PATCH', `/api/chats/${id}`, { title: 'renamed' }, h)).status).toBe(200)
    const posted = await env.client.json('POST', `/api/chats/${id}/messages`, { content: 'hi' }, h)
    expect(posted.status).toBe(202)
    await waitFinal(env.client, id, posted.body.assistantMessage.id)
    expect((await env.client.json('DELETE', `/api/chats/${id}`, undefined, h)).status).toBe(204)
  })
})

describe('error bodies', () => {
  it('have { status, statusText, message, data: { code } } and no stack', async () => {
    const res = await createClient(env.flume.url).json('GET', '/api/chats/AAAAAAAAAAAAAAAAAAAAAA')
    expectError(res, 404, 'not_found')
    expect(res.text).not.toMatch(/at .*\.(m?js|ts):\d+/)
  })

  it('an unknown API route -> 404 JSON', async () => {
    expectError(await env.client.json('GET', '/api/nope'), 404)
  })
})
