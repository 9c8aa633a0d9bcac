/**
 * One answer, every client (README, "Every client"): the same answer followed at once in every
 * format Flume speaks — the contract's JSON SSE, plain text, htmx's SSE events, the AI SDK's UI
 * message stream and the WebSocket — each joined from the start and again from an offset in the
 * middle; every one adds up to the stored text, byte for byte. Each format has its own suite
 * (text-format, htmx, ai-sdk, websocket); this one holds them to one answer together.
 */
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseSse, type Client } from '../support/http'
import { createClient, expectOffsets, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

/** Unicode of every width, markdown, HTML that must stay text, CR LF and a line separator. */
const CHUNKS = ['# Títle\n\n', 'naïve café 👩‍👩‍👧', ' and 😀', '\r\n<b>not bold</b> & "quotes"\n', '```js\nconst a = 1\n```\n', '汉字 ', 'ελληνικά σ\u2028end', '.']
const EXPECTED = CHUNKS.join('')

const cookieOf = (client: Client) => [...client.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
const unescapeHtml = (html: string) => html.replace(/&(amp|lt|gt|quot|#39|#13);/g, (_, name: string) =>
  ({ 'amp': '&', 'lt': '<', 'gt': '>', 'quot': '"', '#39': '\'', '#13': '\r' })[name]!)

/** The text of each format's whole response body from `offset`. */
const readers: Record<string, (client: Client, ids: { chatId: string, messageId: string, streamUrl: string }, offset: number) => Promise<string>> = {
  async json(client, { streamUrl }, offset) {
    const res = await client.fetch(`${streamUrl}?offset=${offset}`, { headers: { accept: 'text/event-stream' } })
    const frames = parseSse(await res.text()).filter(frame => frame.data !== undefined)
    return expectOffsets(frames, offset)
  },
  async text(client, { streamUrl }, offset) {
    const res = await client.fetch(`${streamUrl}?offset=${offset}`, { headers: { accept: 'text/plain' } })
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; charset=utf-8/)
    return await res.text()
  },
  async htmx(client, { streamUrl }, offset) {
    const res = await client.fetch(`${streamUrl}?format=htmx&offset=${offset}`)
    const frames = parseSse(await res.text())
    expect(frames.at(-1)).toMatchObject({ event: 'done', data: 'done' })
    return frames.filter(frame => frame.data !== undefined && frame.event === undefined).map(frame => unescapeHtml(frame.data!)).join('')
  },
  async aiSdk(client, { chatId }) {
    const res = await client.fetch(`/api/chat/${chatId}/stream`)
    if (res.status === 204) return ''
    const parts = parseSse(await res.text()).map(frame => frame.data!).filter(data => data && data !== '[DONE]').map(data => JSON.parse(data) as { type: string, delta?: string })
    return parts.filter(part => part.type === 'text-delta').map(part => part.delta).join('')
  },
  async ws(client, { messageId }, offset) {
    const url = client.baseUrl.replace(/^http/, 'ws') + '/api/ws'
    const socket = new WebSocket(url, { headers: { cookie: cookieOf(client), origin: client.baseUrl } })
    return await new Promise<string>((resolve, reject) => {
      let text = ''
      socket.on('open', () => socket.send(JSON.stringify({ type: 'follow', messageId, offset })))
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { messageId?: string, type: string, text?: string, id?: number }
        if (message.messageId !== messageId) return
        if (message.type === 'delta') text += message.text
        if (message.type === 'done') {
          socket.close()
          resolve(text)
        }
        if (message.type === 'error' && message.id === undefined) reject(new Error(JSON.stringify(message)))
      })
      socket.on('error', reject)
    })
  },
}

describe('one answer, every client', () => {
  it('followed live in five formats at once, from the start and (but the AI SDK) from the middle: each is the stored text', async () => {
    const client = createClient(env.flume.url)
    env.fake.enqueue({ chunks: CHUNKS, delayMs: 60 })
    const created = await client.json('POST', '/api/chats', { content: 'everything at once' })
    expect(created.status, created.text).toBe(201)
    const ids = { chatId: created.body.id as string, messageId: created.body.messages[1].id as string, streamUrl: created.body.streamUrl as string }
    const middle = CHUNKS.slice(0, 3).join('').length

    const fromStart = Object.entries(readers).map(async ([name, read]) => [name, await read(client, ids, 0)] as const)
    // Others join once the middle is written, from there.
    await new Promise(resolve => setTimeout(resolve, 60 * 4 + 100))
    // The AI SDK resumes a whole message (a replay from the start that replaces what it had), so
    // it has no offset to join at.
    const fromMiddle = Object.entries(readers).filter(([name]) => name !== 'aiSdk').map(async ([name, read]) => [name, await read(client, ids, middle)] as const)

    const stored = await waitFinal(client, ids.chatId, ids.messageId)
    expect(stored.status).toBe('done')
    expect(stored.content).toBe(EXPECTED)
    for (const [name, text] of await Promise.all(fromStart)) expect(text, `${name} from the start`).toBe(EXPECTED)
    for (const [name, text] of await Promise.all(fromMiddle)) expect(EXPECTED.slice(0, middle) + text, `${name} from the middle`).toBe(EXPECTED)

    // And once it is finished, read from the database: the same.
    for (const [name, read] of Object.entries(readers)) {
      if (name === 'aiSdk') continue // its stream is for a running answer only (204 after)
      expect(await read(client, ids, 0), `${name} after the end`).toBe(EXPECTED)
    }
  })
})
