/**
 * The answer as plain text (docs/text.md): `Accept: text/plain` or `?format=text`, byte for byte
 * the stored text, from an offset, with one marked line for an error or a stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { openStream } from '../support/http'
import { chatAndSend, createClient, expectError, poll, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_STALL_TIMEOUT_MS: '400' })
})
afterAll(async () => {
  await env?.stop()
})

/** Text with what tends to break: several scripts, an emoji, CR LF, blank lines, HTML and JSON. */
const UNICODE_CHUNKS = ['Héllo, ', 'wörld 🙂\n', '日本語\r\n\r\n', '<b>"x" & \'y\'</b> ', '{"a":1}\n', 'end']
const utf8 = (text: string) => Buffer.from(text, 'utf8')

async function getText(path: string, headers: Record<string, string> = {}) {
  const res = await env.client.fetch(path, { headers })
  return { res, body: Buffer.from(await res.arrayBuffer()) }
}

/** Reads a streamed body as it comes: `bytes` so far, and a wait for a condition on them. */
function follow(res: Response) {
  const chunks: Buffer[] = []
  let ended = false
  const done = (async () => {
    for await (const chunk of res.body!) chunks.push(Buffer.from(chunk))
    ended = true
  })()
  return {
    bytes: () => Buffer.concat(chunks),
    get ended() {
      return ended
    },
    done,
    until: (check: (text: string) => boolean, what: string) => poll(async () => Buffer.concat(chunks).toString('utf8'), check, { timeoutMs: 8_000, what }),
  }
}

describe('plain text', () => {
  it('Accept: text/plain streams the answer as it is written, byte for byte the stored text', async () => {
    env.fake.enqueue({ chunks: UNICODE_CHUNKS, delayMs: 30 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'unicode please')
    const res = await env.client.fetch(streamUrl, { headers: { accept: 'text/plain' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toBe('default-src \'none\'; frame-ancestors \'none\'')
    const body = follow(res)
    // The first words arrive before the answer is over.
    await body.until(text => text.startsWith('Héllo'), 'the first words')
    expect(body.ended).toBe(false)
    await body.done
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored.status).toBe('done')
    expect(stored.content).toBe(UNICODE_CHUNKS.join(''))
    expect(body.bytes().equals(utf8(stored.content))).toBe(true)

    // Read again once final: the same bytes, in one piece.
    const again = await getText(streamUrl, { accept: 'text/plain' })
    expect(again.res.status).toBe(200)
    expect(again.body.equals(utf8(stored.content))).toBe(true)
  })

  it('?format=text wins over Accept; Accept with text/event-stream (or none) stays the contract\'s SSE', async () => {
    env.fake.enqueue({ chunks: ['one ', 'two'] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'formats')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const text = await getText(`${streamUrl}?format=text`, { accept: 'text/event-stream' })
    expect(text.res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(text.body.toString()).toBe('one two')
    for (const accept of ['text/event-stream', 'text/plain, text/event-stream', '*/*']) {
      const sse = await getText(streamUrl, { accept })
      expect(sse.res.headers.get('content-type'), accept).toBe('text/event-stream')
    }
    const unknown = await env.client.json('GET', `${streamUrl}?format=xml`)
    expectError(unknown, 400, 'invalid_query')
  })

  it('?offset gives the text after it; at the end of a finished answer, 200 and an empty body; past it, 400', async () => {
    env.fake.enqueue({ chunks: UNICODE_CHUNKS })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'offsets')
    const { content } = await waitFinal(env.client, chat.id, assistantMessage.id)
    for (const offset of [0, 1, 7, content.indexOf('日'), content.length - 1]) {
      const { res, body } = await getText(`${streamUrl}?format=text&offset=${offset}`)
      expect(res.status).toBe(200)
      expect(body.equals(utf8(content.slice(offset))), `offset ${offset}`).toBe(true)
    }
    const end = await getText(`${streamUrl}?format=text&offset=${content.length}`)
    expect(end.res.status).toBe(200)
    expect(end.body.length).toBe(0)
    expectError(await env.client.json('GET', `${streamUrl}?format=text&offset=${content.length + 1}`), 400, 'invalid_offset')
    expectError(await env.client.json('GET', `${streamUrl}?format=text&offset=-1`), 400, 'invalid_offset')
  })

  it('an offset between the halves of an emoji starts after it: never half a character, never U+FFFD', async () => {
    env.fake.enqueue({ chunks: ['a🙂b'] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'split an emoji')
    const { content } = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(content).toBe('a🙂b')
    const { body } = await getText(`${streamUrl}?format=text&offset=2`)
    expect(body.toString('hex')).toBe(utf8('b').toString('hex'))
  })

  it('an emoji that the model splits between two chunks comes whole', async () => {
    // JSON can carry half a surrogate pair ("\ud83d"); the SDK hands each half over as a delta.
    env.fake.enqueue({ chunks: ['x\uD83D', '\uDE42y'], delayMs: 150 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'half an emoji')
    const res = await env.client.fetch(`${streamUrl}?format=text`)
    const body = follow(res)
    await body.done
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored.content).toBe('x🙂y')
    expect(body.bytes().toString('hex')).toBe(utf8('x🙂y').toString('hex'))
  })

  it('a live answer from an offset: what was written after it, then the rest as it comes; no heartbeat bytes', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['first ', 'part ', '| second ', 'part'], pauseAfter: 2, until: gate.promise })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'live offset')
    const whole = await openStream(env.client, streamUrl)
    await whole.waitForText(t => t === 'first part ')
    const res = await env.client.fetch(`${streamUrl}?format=text&offset=6`)
    const body = follow(res)
    await body.until(text => text === 'part ', 'the text after the offset')
    // The heartbeat is 200 ms here (a ping after 150 ms of silence), the stall timeout 400 ms:
    // plain text stays silent while nothing is written.
    await new Promise(resolve => setTimeout(resolve, 320))
    expect(body.bytes().toString()).toBe('part ')
    gate.open()
    await body.done
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(body.bytes().toString()).toBe(stored.content.slice(6))
    whole.cancel()
  })

  it('an error ends the text with one marked line: the code and the stored message', async () => {
    env.fake.enqueue({ chunks: ['Partial ', 'answer'], hangAfter: 2 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'stall')
    const { res, body } = await getText(streamUrl, { accept: 'text/plain' })
    expect(res.status).toBe(200)
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored).toMatchObject({ status: 'error', content: 'Partial answer', error: { code: 'upstream_timeout' } })
    expect(body.toString()).toBe(`Partial answer\n\n[flume error upstream_timeout] ${stored.error!.message}\n`)
    // From the end of the text: only that line.
    const end = await getText(`${streamUrl}?format=text&offset=${stored.content.length}`)
    expect(end.res.status).toBe(200)
    expect(end.body.toString()).toBe(`\n\n[flume error upstream_timeout] ${stored.error!.message}\n`)
  })

  it('an upstream that refuses: the marked line alone', async () => {
    env.fake.enqueue({ status: 503 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'refused')
    const { body } = await getText(`${streamUrl}?format=text`)
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(body.toString()).toBe(`\n\n[flume error upstream_unavailable] ${stored.error!.message}\n`)
  })

  it('a stopped answer ends with a marked line too', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Stop ', 'me ', 'now'], pauseAfter: 2, until: gate.promise })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'stop')
    const res = await env.client.fetch(`${streamUrl}?format=text`)
    const body = follow(res)
    await body.until(text => text === 'Stop me ', 'the text before the stop')
    const stop = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    expect(stop.status).toBe(200)
    await body.done
    gate.open()
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored.status).toBe('stopped')
    expect(body.bytes().toString()).toBe(`${stored.content}\n\n[flume stopped] The answer was stopped before its end.\n`)
  })

  it('another identity gets 404, as for every format', async () => {
    env.fake.enqueue({ chunks: ['mine'] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'private')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const stranger = createClient(env.client.baseUrl)
    expectError(await stranger.json('GET', `${streamUrl}?format=text`), 404, 'not_found')
  })
})
