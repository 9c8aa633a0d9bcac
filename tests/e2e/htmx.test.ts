/**
 * The stream for htmx's SSE extension (`?format=htmx`, docs/htmx.md): `message` events of escaped
 * HTML, one `data:` line per line, offsets as ids, and a `done` event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseSse, type SseFrame } from '../support/http'
import { chatAndSend, createClient, getChat, waitFinal, startWithFake, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_STALL_TIMEOUT_MS: '400' })
})
afterAll(async () => {
  await env?.stop()
})

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': '\'', '&#13;': '\r' }
const unescape = (html: string) => html.replace(/&(?:amp|lt|gt|quot|#39|#13);/g, e => ENTITIES[e]!)

async function read(path: string, headers: Record<string, string> = {}) {
  const res = await env.client.fetch(path, { headers })
  const raw = await res.text()
  return { res, raw, frames: parseSse(raw).filter(f => f.data !== undefined) }
}

/** The text of the `message` events (ids checked as offsets from `start`), and the events after them. */
function messages(frames: SseFrame[], start = 0) {
  let text = ''
  const rest: SseFrame[] = []
  for (const f of frames) {
    if (f.event === undefined && !f.data!.startsWith('<p ')) {
      expect(f.data, 'a fragment holds no markup').not.toMatch(/[<>]/)
      text += unescape(f.data!)
      expect(f.id).toBe(String(start + text.length))
    }
    else {
      rest.push(f)
    }
  }
  return { text, rest }
}

describe('?format=htmx', () => {
  it('sends the answer as escaped HTML in message events, a line per data: line, then done', async () => {
    const chunks = ['<script>alert(1)</script>\n', 'line two\r\n', '\n', '"quotes" & \'apostrophes\' 🙂', ' end']
    env.fake.enqueue({ chunks, delayMs: 20 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'htmx please')
    const { res, raw, frames } = await read(`${streamUrl}?format=htmx`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform')
    expect(raw).toMatch(/^retry: 1000\n\n/)
    expect(raw).toContain('data: &lt;script&gt;alert(1)&lt;/script&gt;\ndata: ')
    expect(raw).not.toContain('<script>')
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    const { text, rest } = messages(frames)
    expect(text).toBe(stored.content)
    expect(rest).toEqual([{ id: String(stored.content.length), event: 'done', data: 'done' }])
  })

  it('resumes from ?offset and from Last-Event-ID; at the end of a final answer, 200 with done (never 204)', async () => {
    env.fake.enqueue({ chunks: ['abc ', 'def ', 'ghi'] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'resume')
    const { content } = await waitFinal(env.client, chat.id, assistantMessage.id)
    const byQuery = await read(`${streamUrl}?format=htmx&offset=4`)
    expect(messages(byQuery.frames, 4).text).toBe(content.slice(4))
    const byHeader = await read(`${streamUrl}?format=htmx`, { 'last-event-id': '8' })
    expect(messages(byHeader.frames, 8).text).toBe(content.slice(8))
    const end = await read(`${streamUrl}?format=htmx&offset=${content.length}`)
    expect(end.res.status).toBe(200)
    expect(end.frames).toEqual([{ id: String(content.length), event: 'done', data: 'done' }])
  })

  it('an error shows as an escaped fragment, then done', async () => {
    env.fake.enqueue({ chunks: ['Partial '], hangAfter: 1 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'stall')
    const { frames } = await read(`${streamUrl}?format=htmx`)
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    const { text, rest } = messages(frames)
    expect(text).toBe('Partial ')
    expect(rest).toHaveLength(2)
    expect(rest[0]!.data).toBe(`<p class="flume-error" role="alert" data-code="upstream_timeout">${stored.error!.message.replace(/&/g, '&amp;').replace(/'/g, '&#39;')}</p>`)
    expect(rest[1]).toEqual({ id: '8', event: 'done', data: 'error' })
  })
})

describe('the /htmx page and its composer', () => {
  const post = (body: string, headers: Record<string, string> = {}, client = env.client) => client.fetch('/htmx/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true', ...headers },
    body,
  })

  it('a form post starts a chat with its question: the question, the answer following its stream, a fresh composer', async () => {
    env.fake.enqueue({ chunks: ['fine ', 'thanks'] })
    const res = await post(new URLSearchParams({ content: 'How are <you>?' }).toString())
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const chatId = new URL(res.headers.get('hx-push-url')!, env.client.baseUrl).searchParams.get('chat')!
    const chat = await getChat(env.client, chatId)
    const [question, answer] = chat.messages
    const fragment = await res.text()
    expect(fragment).toContain('How are &lt;you&gt;?')
    expect(fragment).toContain(`sse-connect="/api/chats/${chatId}/messages/${answer!.id}/stream?format=htmx&amp;offset=0" sse-swap="message" hx-swap="beforeend" sse-close="done"`)
    expect(fragment).toContain(`<form id="composer" hx-post="/htmx/messages" hx-target="#messages" hx-swap="beforeend" hx-swap-oob="true">`)
    expect(fragment).toContain(`<input type="hidden" name="chat" value="${chatId}">`)
    expect(question!.content).toBe('How are <you>?')
    const done = await waitFinal(env.client, chatId, answer!.id)
    expect(done.content).toBe('fine thanks')

    // The next question, in the same chat; then the page shows both, done, without streams.
    env.fake.enqueue({ chunks: ['again'] })
    const next = await post(new URLSearchParams({ content: 'And now?', chat: chatId }).toString())
    expect(next.status).toBe(200)
    expect(next.headers.get('hx-push-url')).toBeNull()
    const after = await getChat(env.client, chatId)
    expect(after.messages.map(m => m.content.slice(0, 8))).toEqual(['How are ', 'fine tha', 'And now?', after.messages[3]!.content.slice(0, 8)])
    await waitFinal(env.client, chatId, after.messages[3]!.id)
    const page = await env.client.fetch(`/htmx?chat=${chatId}`)
    expect(page.status).toBe(200)
    const htmlText = await page.text()
    expect(htmlText).toContain('<div class="content">fine thanks</div>')
    expect(htmlText).not.toContain('sse-connect')
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'self';/)
  })

  it('refuses a foreign Origin (403), a blank question (400), JSON (415); another identity\'s chat is 404', async () => {
    expect((await post('content=hi', { origin: 'https://evil.example' })).status).toBe(403)
    const blank = await post('content=%20%20')
    expect(blank.status).toBe(400)
    expect(await blank.text()).toContain('<p class="flume-error" role="alert">')
    expect((await post(JSON.stringify({ content: 'hi' }), { 'content-type': 'application/json' })).status).toBe(415)

    env.fake.enqueue({ chunks: ['mine'] })
    const { chat } = await chatAndSend(env.client, 'private')
    const stranger = createClient(env.client.baseUrl)
    expect((await stranger.fetch(`/htmx?chat=${chat.id}`)).status).toBe(404)
    expect((await post(new URLSearchParams({ content: 'hi', chat: chat.id }).toString(), {}, stranger)).status).toBe(404)
  })

  it('serves htmx and its SSE extension from the app', async () => {
    for (const [path, type] of [['/htmx/htmx.min.js', 'text/javascript'], ['/htmx/sse.min.js', 'text/javascript'], ['/htmx/page.css', 'text/css']]) {
      const res = await env.client.fetch(path!)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type'), path).toBe(`${type}; charset=utf-8`)
      expect((await res.text()).length, path).toBeGreaterThan(100)
    }
    expect((await env.client.fetch('/htmx/nope.js')).status).toBe(404)
  })
})
