/**
 * The stream for htmx's SSE extension (`?format=htmx`, docs/htmx.md): `message` events of escaped
 * HTML, one `data:` line per line, offsets as ids, and a `done` event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseSse, type SseFrame } from '../support/http'
import { chatAndSend, waitFinal, startWithFake, type Env } from './helpers'

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
