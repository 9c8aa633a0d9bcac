import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_SYSTEM_PROMPT_LENGTH, MAX_TITLE_LENGTH, type Chat } from '../../shared/schemas'
import type { Client, JsonResponse } from '../support/http'
import { chatAndSend, createClient, expectError, getChat, newChat, send, startWithFake, waitFinal, type Env } from './helpers'

/**
 * Malformed input of every kind the API takes: each answers 4xx with a stable `data.code` in the
 * contract's error shape, never a 5xx, no header made from what was sent, and nothing stored (no
 * chat, message or setting changed, no upstream request made).
 */

let env: Env
let other: Client
/** A chat of `env.client` with two finished exchanges. */
let ids: { chat: string, q1: string, a1: string, q2: string, a2: string, stream: string }
/** A chat of another identity. */
let foreign: { chat: string, answer: string }

beforeAll(async () => {
  env = await startWithFake()
  const first = await chatAndSend(env.client, 'first question')
  await waitFinal(env.client, first.chat.id, first.assistantMessage.id)
  const second = await send(env.client, first.chat.id, 'second question')
  await waitFinal(env.client, first.chat.id, second.assistantMessage.id)
  ids = {
    chat: first.chat.id,
    q1: first.userMessage.id,
    a1: first.assistantMessage.id,
    q2: second.userMessage.id,
    a2: second.assistantMessage.id,
    stream: second.streamUrl,
  }
  other = createClient(env.flume.url)
  const theirs = await chatAndSend(other, 'not yours')
  await waitFinal(other, theirs.chat.id, theirs.assistantMessage.id)
  foreign = { chat: theirs.chat.id, answer: theirs.assistantMessage.id }
})
afterAll(async () => {
  await env?.stop()
})

/** Everything both identities have stored: chats with their settings, and every message. */
async function snapshot() {
  const all = []
  for (const client of [env.client, other]) {
    const list = await client.json<Chat[]>('GET', '/api/chats')
    expect(list.status, list.text).toBe(200)
    for (const chat of list.body) all.push({ ...chat, streaming: undefined, messages: (await getChat(client, chat.id)).messages })
  }
  return { all, upstreamRequests: env.fake.completions.length }
}

const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels)
const deepObject = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels)
const WRONG_TYPES = [42, true, [], {}, ['a'], { a: 'b' }] as const
const chatPath = () => `/api/chats/${ids.chat}`
const messagesPath = () => `${chatPath()}/messages`
const editPath = () => `${messagesPath()}/${ids.q2}/edit`

type Call = () => Promise<JsonResponse>
const post = (path: () => string, body: unknown): Call => () => env.client.json('POST', path(), body)
const patch = (body: unknown): Call => () => env.client.json('PATCH', chatPath(), body)
const raw = (method: string, path: () => string, body: string | Uint8Array, headers?: Record<string, string>): Call =>
  () => env.client.raw(method, path(), body, headers)
/** The same body to each route that takes one. */
const toEveryBody = (body: (route: 'create' | 'patch' | 'message' | 'edit') => unknown): Call[] => [
  post(() => '/api/chats', body('create')),
  patch(body('patch')),
  post(messagesPath, body('message')),
  post(editPath, body('edit')),
]
const rawToEveryBody = (body: string | Uint8Array, headers?: Record<string, string>): Call[] =>
  [raw('POST', () => '/api/chats', body, headers), raw('PATCH', chatPath, body, headers), raw('POST', messagesPath, body, headers), raw('POST', editPath, body, headers)]
const get = (path: () => string, headers: Record<string, string> = {}): Call => () => env.client.json('GET', path(), undefined, headers)

/** Every call a route takes for one id, given as a path segment as it is. */
function everyIdRoute(chat: () => string, message: () => string, client = () => env.client): Call[] {
  const c = () => `/api/chats/${chat()}`
  const m = () => `${c()}/messages/${message()}`
  return [
    () => client().json('GET', c()),
    () => client().json('PATCH', c(), { title: 'renamed' }),
    () => client().json('DELETE', c()),
    () => client().json('POST', `${c()}/messages`, { content: 'hi' }),
    () => client().json('GET', `${m()}/stream`, undefined, { accept: 'text/event-stream' }),
    () => client().json('POST', `${m()}/stop`),
    () => client().json('POST', `${m()}/retry`),
    () => client().json('POST', `${m()}/continue`),
    () => client().json('POST', `${m()}/edit`, { content: 'hi' }),
  ]
}

interface Kind {
  kind: string
  calls: () => Call[]
  status: number | number[]
  code: string | string[]
}

const KINDS: Kind[] = [
  {
    kind: 'a body over 1 MB',
    calls: () => rawToEveryBody(`{"content":"hi","title":"t"${' '.repeat(1_100_000)}}`),
    status: 413,
    code: 'too_large',
  },
  {
    kind: 'content over 100,000 characters',
    calls: () => [post(() => '/api/chats', { content: 'a'.repeat(100_001) }), post(messagesPath, { content: 'a'.repeat(100_001) }), post(editPath, { content: 'a'.repeat(100_001) })],
    status: 413,
    code: 'too_large',
  },
  {
    kind: 'JSON nested 100,000 levels deep (as the body and as each field)',
    calls: () => [
      ...rawToEveryBody(deep(100_000)),
      ...rawToEveryBody(deepObject(100_000)),
      raw('POST', () => '/api/chats', `{"title":${deep(100_000)}}`),
      raw('POST', messagesPath, `{"content":${deepObject(100_000)}}`),
      raw('PATCH', chatPath, `{"systemPrompt":${deep(100_000)}}`),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'invalid JSON',
    calls: () => ['{"content":"hi"', '{content:"hi"}', '{"content":"hi",}', 'NaN', '\'hi\''].flatMap(body => rawToEveryBody(body)),
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'a body that is not an object',
    calls: () => ['null', '"hi"', '42', 'true', '[{"content":"hi","title":"t"}]'].flatMap(body => rawToEveryBody(body)),
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'wrong types for each field of POST /api/chats',
    calls: () => WRONG_TYPES.flatMap(bad => [
      post(() => '/api/chats', { title: bad }),
      post(() => '/api/chats', { title: 't', content: bad }),
      post(() => '/api/chats', { content: 'hi', model: bad }),
    ]).concat([post(() => '/api/chats', { title: null }), post(() => '/api/chats', { content: null })]),
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'wrong types for each field of PATCH /api/chats/:id',
    calls: () => [...WRONG_TYPES, '1'].flatMap(bad => [
      ...(typeof bad === 'string' ? [] : [patch({ title: bad }), patch({ model: bad }), patch({ systemPrompt: bad })]),
      patch({ temperature: bad }),
    ]).concat([patch({ title: null })]),
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'wrong types for each field of POST …/messages and …/edit',
    calls: () => WRONG_TYPES.flatMap(bad => [
      post(messagesPath, { content: bad }),
      post(messagesPath, { content: 'hi', model: bad }),
      post(editPath, { content: bad }),
      post(editPath, { content: 'hi', model: bad }),
    ]).concat([post(messagesPath, { content: null }), post(editPath, { content: 'hi', model: null })]),
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'missing fields (and no body at all)',
    calls: () => [
      post(messagesPath, {}),
      post(messagesPath, { model: 'gpt-fake' }),
      post(editPath, {}),
      patch({}),
      post(() => '/api/chats', { model: 'gpt-fake' }),
      () => env.client.fetch(messagesPath(), { method: 'POST' }).then(toJson),
      () => env.client.fetch(editPath(), { method: 'POST' }).then(toJson),
      () => env.client.fetch(chatPath(), { method: 'PATCH' }).then(toJson),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'unknown fields (the schemas are strict), __proto__ and constructor included',
    calls: () => [
      ...toEveryBody(route => ({ ...(route === 'patch' ? { title: 't' } : { content: 'hi' }), role: 'assistant' })),
      ...toEveryBody(() => ({ content: 'hi', id: 'AAAAAAAAAAAAAAAAAAAAAA', status: 'done' })),
      ...rawToEveryBody('{"__proto__":{"admin":true},"content":"hi","title":"t"}'),
      ...rawToEveryBody('{"constructor":{"prototype":{"admin":true}},"content":"hi"}'),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'empty, blank and out-of-range values',
    calls: () => [
      post(() => '/api/chats', { title: '' }),
      post(() => '/api/chats', { title: ' \t ' }),
      post(() => '/api/chats', { content: '' }),
      post(messagesPath, { content: ' \n ' }),
      post(editPath, { content: '' }),
      patch({ title: '   ' }),
      patch({ temperature: -0.01 }),
      patch({ temperature: 2.01 }),
      raw('PATCH', chatPath, '{"temperature":1e999}'),
      post(messagesPath, { content: 'hi', model: '' }),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'overlong titles, system prompts and model names',
    calls: () => [
      post(() => '/api/chats', { title: 'x'.repeat(MAX_TITLE_LENGTH + 1) }),
      patch({ title: 'x'.repeat(MAX_TITLE_LENGTH + 1) }),
      patch({ systemPrompt: 'x'.repeat(MAX_SYSTEM_PROMPT_LENGTH + 1) }),
      patch({ model: 'm'.repeat(201) }),
      post(messagesPath, { content: 'hi', model: 'm'.repeat(201) }),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'NUL characters in content, titles, system prompts and models',
    calls: () => [
      post(() => '/api/chats', { title: 'a\u0000b' }),
      post(() => '/api/chats', { content: 'a\u0000b' }),
      patch({ title: 'a\u0000b' }),
      patch({ systemPrompt: 'be\u0000brief' }),
      patch({ model: 'gpt-fake\u0000' }),
      post(messagesPath, { content: '\u0000' }),
      post(editPath, { content: 'hi\u0000' }),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'lone surrogates in content and titles',
    calls: () => [
      raw('POST', () => '/api/chats', '{"title":"a\\ud800b"}'),
      raw('POST', () => '/api/chats', '{"content":"\\udc00"}'),
      raw('PATCH', chatPath, '{"title":"x\\udbff"}'),
      raw('PATCH', chatPath, '{"systemPrompt":"\\ud83d"}'),
      raw('POST', messagesPath, '{"content":"emoji cut in half \\ud83d"}'),
      raw('POST', editPath, '{"content":"\\ude00 reversed \\ud83d"}'),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'bytes that are not UTF-8',
    calls: () => [
      ...rawToEveryBody(new Uint8Array([...Buffer.from('{"title":"'), 0xFF, 0xFE, ...Buffer.from('","content":"'), 0xC3, 0x28, ...Buffer.from('"}')])),
      // An overlong encoding of "/" (C0 AF).
      raw('POST', messagesPath, new Uint8Array([...Buffer.from('{"content":"..'), 0xC0, 0xAF, ...Buffer.from('"}')])),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'CR/LF and other control characters in titles and model names (header injection)',
    calls: () => [
      post(() => '/api/chats', { title: 'x\r\nSet-Cookie: evil=1' }),
      post(() => '/api/chats', { title: 'x\nX-Evil: 1' }),
      post(() => '/api/chats', { title: 'x\rLocation: https://evil.example' }),
      patch({ title: 'renamed\r\n\r\n<h1>evil</h1>' }),
      patch({ title: 'tab\there' }),
      patch({ model: 'gpt-fake\r\nX-Evil: 1' }),
      post(() => '/api/chats', { content: 'hi', model: 'gpt-fake\nX-Evil: 1' }),
    ],
    status: 400,
    code: 'invalid_body',
  },
  {
    kind: 'unknown models',
    calls: () => [
      post(() => '/api/chats', { content: 'hi', model: 'no-such-model' }),
      post(messagesPath, { content: 'hi', model: '../../v1/models' }),
      post(editPath, { content: 'hi', model: 'gpt-fake ' + 'x' }),
      patch({ model: 'no-such-model' }),
    ],
    status: 400,
    code: 'unknown_model',
  },
  {
    kind: 'path tricks in chat ids (dot segments, encoded slashes, NUL, bad escapes, unicode, 10,000 characters)',
    calls: () => ['..%2F..%2Fetc%2Fpasswd', '..%2F' + 'A'.repeat(22), `${'A'.repeat(11)}%2F${'A'.repeat(11)}`, '%2E%2E', 'A'.repeat(21) + '%00',
      '%E0%A4%A', '%', encodeURIComponent('чат-чат-чат-чат-чат-чат'), encodeURIComponent('😀'.repeat(11)), 'A'.repeat(10_000),
      '%20' + 'A'.repeat(22), 'A\'%20OR%20\'1\'=\'1\'--%20AAAAAA']
      .flatMap(bad => everyIdRoute(() => bad, () => ids.a2)),
    status: 404,
    code: 'not_found',
  },
  {
    kind: 'path tricks in message ids',
    calls: () => ['..%2F..%2F' + ids.a2, `${ids.a2}%2F..`, '%00', '%E0%A4%A', encodeURIComponent('сообщение-сообщение'), 'A'.repeat(10_000), `${ids.a2}%20`]
      .flatMap(bad => everyIdRoute(() => ids.chat, () => bad).slice(4)),
    status: 404,
    code: 'not_found',
  },
  {
    kind: 'another identity\'s chat and answer',
    calls: () => [
      ...everyIdRoute(() => foreign.chat, () => foreign.answer),
      // This identity's chat with the other's answer, and the other way round.
      ...everyIdRoute(() => ids.chat, () => foreign.answer).slice(4),
      ...everyIdRoute(() => foreign.chat, () => ids.a2).slice(4),
    ],
    status: 404,
    code: 'not_found',
  },
  {
    kind: 'ids of the wrong kind (a question where an answer goes, and the other way round)',
    calls: () => [
      get(() => `${messagesPath()}/${ids.q2}/stream`),
      post(() => `${messagesPath()}/${ids.q2}/stop`, undefined),
      post(() => `${messagesPath()}/${ids.q2}/retry`, undefined),
      post(() => `${messagesPath()}/${ids.q2}/continue`, undefined),
      get(() => `/api/chats/${ids.a2}`),
    ],
    status: 404,
    code: 'not_found',
  },
  {
    kind: 'actions an answer\'s state does not allow',
    calls: () => [
      post(() => `${messagesPath()}/${ids.a1}/retry`, undefined),
      post(() => `${messagesPath()}/${ids.a2}/edit`, { content: 'edited' }),
      post(() => `${messagesPath()}/${ids.a2}/continue`, undefined),
    ],
    status: 409,
    code: ['not_retryable', 'not_editable', 'not_continuable'],
  },
  {
    kind: 'bad search and paging query parameters',
    calls: () => [
      get(() => `/api/chats?q=${'a'.repeat(201)}`),
      get(() => '/api/chats?q=a&q=b'),
      get(() => '/api/chats?limit=0'),
      get(() => '/api/chats?limit=abc'),
      get(() => '/api/chats?limit=-1'),
      get(() => '/api/chats?limit=100000'),
      get(() => '/api/chats?before=..%2F..'),
      get(() => `${chatPath()}?limit=1.5`),
      get(() => `${chatPath()}?before=${'9'.repeat(11)}`),
    ],
    status: 400,
    code: 'invalid_query',
  },
  {
    kind: 'bad stream offsets (?offset)',
    calls: () => ['abc', '-1', '1.5', '0x10', '1e3', '99999999999999999999', ' 1 2', '100000']
      .map(bad => get(() => `${ids.stream}?offset=${encodeURIComponent(bad)}`, { accept: 'text/event-stream' })),
    status: 400,
    code: 'invalid_offset',
  },
  {
    kind: 'bad Last-Event-ID',
    calls: () => ['abc', '-1', '1.5', '0x10', '99999999999999999999', '100000', '\u00BD']
      .map(bad => get(() => ids.stream, { 'accept': 'text/event-stream', 'last-event-id': bad })),
    status: 400,
    code: 'invalid_offset',
  },
  {
    kind: 'a Content-Type that is not JSON',
    calls: () => ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'text/json', '']
      .flatMap(type => rawToEveryBody('{"content":"hi","title":"t"}', { 'content-type': type })),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    kind: 'wrong methods',
    calls: () => [
      () => env.client.json('PUT', '/api/chats', { title: 't' }),
      () => env.client.json('DELETE', '/api/chats'),
      () => env.client.json('PUT', chatPath(), { title: 't' }),
      () => env.client.json('POST', chatPath(), { title: 't' }),
      () => env.client.json('GET', messagesPath()),
      () => env.client.json('POST', `${messagesPath()}/${ids.a2}/stream`),
      () => env.client.json('GET', `${messagesPath()}/${ids.a2}/stop`),
      () => env.client.json('GET', `${messagesPath()}/${ids.a2}/retry`),
      () => env.client.json('DELETE', `${messagesPath()}/${ids.a2}`),
      () => env.client.json('POST', '/api/models', {}),
      () => env.client.json('POST', '/api/', {}),
      () => env.client.json('GET', '/api/'),
    ],
    // The API's catch-all route answers an unknown method on a known path as an unknown route.
    status: [404, 405],
    code: ['not_found', 'method_not_allowed'],
  },
  {
    kind: 'a foreign Origin',
    calls: () => [
      () => env.client.json('POST', '/api/chats', { content: 'hi' }, { origin: 'https://evil.example' }),
      () => env.client.json('PATCH', chatPath(), { title: 't' }, { origin: 'null' }),
      () => env.client.json('POST', messagesPath(), { content: 'hi' }, { origin: 'http://127.0.0.1.evil.example' }),
      () => env.client.json('POST', editPath(), { content: 'hi' }, { 'sec-fetch-site': 'cross-site' }),
    ],
    status: 403,
    code: 'forbidden_origin',
  },
]

async function toJson(res: Response): Promise<JsonResponse> {
  const text = await res.text()
  let body
  try {
    body = JSON.parse(text)
  }
  catch { /* left undefined */ }
  return { status: res.status, headers: res.headers, body, text }
}

function expectNoInjectedHeader(res: JsonResponse) {
  for (const [name, value] of res.headers) {
    expect(`${name}: ${value}`, 'a header made from the input').not.toMatch(/evil/i)
  }
}

describe('malformed input answers 4xx with a stable code, and stores nothing', () => {
  it('covers at least 20 kinds', () => {
    expect(new Set(KINDS.map(k => k.kind)).size).toBeGreaterThanOrEqual(20)
  })

  it.each(KINDS.map(k => [k.kind, k] as const))('%s', async (_, { calls, status, code }) => {
    const before = await snapshot()
    const statuses = [status].flat()
    const codes = [code].flat()
    for (const [i, call] of calls().entries()) {
      const res = await call()
      const context = `call ${i}: ${res.status} ${res.text.slice(0, 300)}`
      expect(statuses, context).toContain(res.status)
      expectError(res, res.status, res.body?.data?.code)
      expect(codes, context).toContain(res.body.data.code)
      expect(res.text, context).not.toMatch(/at .*\.(m?js|ts):\d+/)
      expectNoInjectedHeader(res)
    }
    expect(await snapshot()).toEqual(before)
  })
})

describe('a title that looks like a header', () => {
  it('is stored as text and never becomes a header, in any answer that carries it', async () => {
    const title = 'Set-Cookie: evil=1; X-Evil: 1'
    const chat = await newChat(env.client, title)
    const answers = [
      await env.client.json('GET', '/api/chats'),
      await env.client.json('GET', `/api/chats?q=${encodeURIComponent('evil')}`),
      await env.client.json('GET', `/api/chats/${chat.id}`),
      await env.client.json('PATCH', `/api/chats/${chat.id}`, { title: `${title} again` }),
    ]
    for (const res of answers) {
      expect(res.status, res.text).toBe(200)
      expect(res.text).toContain('Set-Cookie: evil=1')
      expectNoInjectedHeader(res)
    }
    const page = await env.client.fetch(`/chat/${chat.id}`, { headers: { accept: 'text/html' } })
    expect(page.status).toBe(200)
    await page.text()
    expectNoInjectedHeader({ status: page.status, headers: page.headers, body: undefined, text: '' })
    expect(env.client.cookies.has('evil')).toBe(false)
    expect((await env.client.json('DELETE', `/api/chats/${chat.id}`)).status).toBe(204)
  })
})
