import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { openStream, parseSse, textOf } from '../support/http'
import { chatAndSend, events, expectOffsets, getMessage, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_HEARTBEAT_MS: '200' })
})
afterAll(async () => {
  await env?.stop()
})

const EMOJI_CHUNKS = [
  'Bonjour 👋🏽! ', 'Ça va? ', '日本語のテキスト、', '👨‍👩‍👧‍👦 family, ', '🇫🇷🇯🇵 flags; ',
  'math 𝔸𝕓𝕔 ∑∞, ', 'combining é vs é, ', 'zero\u200Bwidth, ', '\n\n```js\nconst s = "😀"\n```\n', 'data: [DONE]\n\nid: 0\n', 'end 🎉',
]

describe('the stream', () => {
  it('sends the SSE headers, offset ids, deltas joining to the stored content, usage, then [DONE] and ends', async () => {
    env.fake.enqueue({ chunks: ['The ', 'quick ', 'brown ', 'fox'], delayMs: 5, usage: { prompt_tokens: 12, completion_tokens: 30 } })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'tell me about foxes')
    const stream = await openStream(env.client, streamUrl)
    expect(stream.status).toBe(200)
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream\b/)
    expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform')
    expect(stream.headers.get('x-accel-buffering')).toBe('no')

    const frames = await stream.readUntilDone()
    await stream.waitEnd(3_000)
    const text = expectOffsets(frames)
    expect(text).toBe('The quick brown fox')
    const evs = events(frames)
    expect(evs.at(-1)).toEqual({ type: 'done' })
    expect(evs.filter(e => e.type === 'done')).toHaveLength(1)
    expect(evs).toContainEqual({ type: 'usage', promptTokens: 12, completionTokens: 30 })
    // Nothing after [DONE], and every frame ended with a blank line.
    expect(stream.frames.at(-1)!.data).toBe('[DONE]')
    expect(stream.leftover).toBe('')
    expect(stream.raw.endsWith('\n\n')).toBe(true)
    // A plain EventSource hands these to onmessage: no named events.
    expect(stream.frames.filter(f => f.event !== undefined && f.event !== 'message')).toEqual([])

    const stored = await getMessage(env.client, chat.id, assistantMessage.id)
    expect(stored).toMatchObject({ status: 'done', content: text, usage: { promptTokens: 12, completionTokens: 30 } })
  })

  it('keeps a unicode and emoji heavy answer byte for byte, with UTF-16 offsets', async () => {
    env.fake.enqueue({ chunks: EMOJI_CHUNKS, delayMs: 3, fragment: true })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'unicode please')
    const stream = await openStream(env.client, streamUrl)
    const frames = await stream.readUntilDone()
    const text = expectOffsets(frames)
    const expected = EMOJI_CHUNKS.join('')
    expect(text).toBe(expected)
    expect(frames.at(-1)!.id).toBe(String(expected.length)) // UTF-16 code units, not code points or bytes
    expect(expected.length).not.toBe([...expected].length)
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored.content).toBe(expected)
    expect(Buffer.from(stored.content, 'utf8').equals(Buffer.from(text, 'utf8'))).toBe(true)
  })

  it('joins many small chunks exactly, however they are merged into frames', async () => {
    const chunks = Array.from({ length: 300 }, (_, i) => `${i % 10 === 0 ? '\n' : ''}t${i}${i % 7 ? ' ' : '😀'}`)
    env.fake.enqueue({ chunks, delayMs: 0 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'many chunks')
    const frames = await (await openStream(env.client, streamUrl)).readUntilDone()
    expect(expectOffsets(frames)).toBe(chunks.join(''))
    expect((await waitFinal(env.client, chat.id, assistantMessage.id)).content).toBe(chunks.join(''))
  })

  it('sends `: ping` comments while no text flows', async () => {
    env.fake.enqueue({ chunks: ['before the pause', ' and after'], initialDelayMs: 500, delayMs: 700 })
    const { streamUrl } = await chatAndSend(env.client, 'take your time')
    const stream = await openStream(env.client, streamUrl)
    await stream.readUntilDone()
    const f = stream.frames
    const isPing = (x: typeof f[number]) => x.comment?.trim() === 'ping' && x.data === undefined
    const firstDelta = f.findIndex(x => x.data !== undefined)
    const secondDelta = f.findIndex((x, i) => i > firstDelta && x.data !== undefined)
    // Heartbeat 200 ms: pings while waiting for the first token and during the 700 ms pause,
    // where no silence may last 200 ms (so at least three pings).
    expect(f.slice(0, firstDelta).filter(isPing).length).toBeGreaterThanOrEqual(1)
    expect(f.slice(firstDelta + 1, secondDelta).filter(isPing).length).toBeGreaterThanOrEqual(3)
    expect(stream.raw).toMatch(/(^|\n): ?ping\n\n/)
  })

  it('follows a message that is already final from the start when no offset is given', async () => {
    env.fake.enqueue({ chunks: ['Already ', 'done.'], usage: { prompt_tokens: 3, completion_tokens: 2 } })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'finish first')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    for (let i = 0; i < 2; i++) {
      const stream = await openStream(env.client, streamUrl)
      expect(stream.status).toBe(200)
      const frames = await stream.readUntilDone()
      await stream.waitEnd(3_000)
      expect(expectOffsets(frames)).toBe('Already done.')
      expect(events(frames)).toContainEqual({ type: 'usage', promptTokens: 3, completionTokens: 2 })
      expect(events(frames).at(-1)).toEqual({ type: 'done' })
    }
  })

  it('an empty answer still gets its final frames without offset, and 204 with offset 0', async () => {
    env.fake.enqueue({ chunks: [] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'say nothing')
    const final = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(final).toMatchObject({ status: 'done', content: '' })
    const stream = await openStream(env.client, streamUrl)
    expect(stream.status).toBe(200)
    const frames = await stream.readUntilDone()
    expect(expectOffsets(frames)).toBe('')
    expect(frames.at(-1)).toEqual({ id: '0', data: '[DONE]' })
    expect((await openStream(env.client, streamUrl, { lastEventId: 0 })).status).toBe(204)
    expect((await openStream(env.client, `${streamUrl}?offset=0`)).status).toBe(204)
  })

  it('answers 204 to an offset equal to the final length of a final message', async () => {
    env.fake.enqueue({ chunks: ['Fin', 'ished 🎉'] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'finish')
    const final = await waitFinal(env.client, chat.id, assistantMessage.id)
    const n = final.content.length
    expect(n).toBe('Finished 🎉'.length)
    const byHeader = await openStream(env.client, streamUrl, { lastEventId: n })
    expect(byHeader.status).toBe(204)
    expect(byHeader.errorText).toBe('')
    const byQuery = await openStream(env.client, `${streamUrl}?offset=${n}`)
    expect(byQuery.status).toBe(204)
  })

  it('a smaller offset on a final message gets the rest in one delta, then [DONE]', async () => {
    env.fake.enqueue({ chunks: ['0123', '4567', '89'] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'digits')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    for (const open of [
      () => openStream(env.client, streamUrl, { lastEventId: 3 }),
      () => openStream(env.client, `${streamUrl}?offset=3`),
    ]) {
      const stream = await open()
      expect(stream.status).toBe(200)
      const frames = await stream.readUntilDone()
      const evs = events(frames)
      expect(evs[0]).toEqual({ type: 'delta', text: '3456789' })
      expect(evs.filter(e => e.type === 'delta')).toHaveLength(1)
      expect(expectOffsets(frames, 3)).toBe('3456789')
      expect(evs.at(-1)).toEqual({ type: 'done' })
      await stream.waitEnd(3_000)
    }
  })

  it('resumes mid-stream with Last-Event-ID or ?offset: the rest in one delta, then live frames, no gap, no duplicate', async () => {
    const gate = createGate()
    const chunks = ['The quick ', 'brown fox ', 'jumps over ', 'the lazy ', 'dog. 🦊']
    const full = chunks.join('')
    env.fake.enqueue({ chunks, delayMs: 5, pauseAfter: 2, until: gate.promise })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'resume me')
    const first = await openStream(env.client, streamUrl)
    await first.waitForText(t => t === 'The quick brown fox ')
    const now = 'The quick brown fox '.length

    // A browser reconnecting after the first frame, a fresh page with ?offset, one exactly at the head.
    const byHeader = await openStream(env.client, streamUrl, { lastEventId: 10 })
    const byQuery = await openStream(env.client, `${streamUrl}?offset=10`)
    const atHead = await openStream(env.client, `${streamUrl}?offset=${now}`)
    for (const s of [byHeader, byQuery]) {
      expect(s.status).toBe(200)
      const f = await s.nextData()
      expect(f).toEqual({ id: String(now), data: JSON.stringify({ type: 'delta', text: 'brown fox ' }) })
    }
    expect(atHead.status).toBe(200)
    gate.open()

    const rest = await Promise.all([byHeader, byQuery].map(s => s.readUntilDone()))
    for (const frames of rest) expect(expectOffsets(frames, now)).toBe(full.slice(now))
    expect(byHeader.text).toBe(full.slice(10))
    expect(byQuery.text).toBe(full.slice(10))
    const headFrames = await atHead.readUntilDone()
    expect(expectOffsets(headFrames, now)).toBe(full.slice(now))
    expect(textOf(await first.readUntilDone())).toBe(full)
    expect((await waitFinal(env.client, chat.id, assistantMessage.id)).content).toBe(full)
  })

  it('a reader joining mid-answer without an offset gets everything so far in one delta, then the rest', async () => {
    const gate = createGate()
    const chunks = ['one ', 'two ', 'three ', 'four']
    env.fake.enqueue({ chunks, pauseAfter: 2, until: gate.promise })
    const { streamUrl } = await chatAndSend(env.client, 'join late')
    const early = await openStream(env.client, streamUrl)
    await early.waitForText(t => t === 'one two ')
    const late = await openStream(env.client, streamUrl)
    expect(await late.nextData()).toEqual({ id: '8', data: JSON.stringify({ type: 'delta', text: 'one two ' }) })
    gate.open()
    expect(expectOffsets(await late.readUntilDone(), 8)).toBe('three four')
    expect(late.text).toBe(chunks.join(''))
    expect(textOf(await early.readUntilDone())).toBe(chunks.join(''))
  })

  it('a reader that stops reading holds up neither the answer nor other readers, and gets it all later', async () => {
    // About 1 MB of answer: more than socket buffers hold, so the stalled reader really pushes back.
    const chunks = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(4, '0')}:${'é😀x'.repeat(250)}\n`)
    const full = chunks.join('')
    env.fake.enqueue({ chunks, delayMs: 0 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'a long one')
    const stalled = await env.client.fetch(streamUrl, { headers: { accept: 'text/event-stream' } })
    expect(stalled.status).toBe(200)
    const reader = await openStream(env.client, streamUrl)
    expect(expectOffsets(await reader.readUntilDone(20_000))).toBe(full)
    expect((await waitFinal(env.client, chat.id, assistantMessage.id)).content).toBe(full)
    // Now the stalled one reads: everything, in order.
    const frames = parseSse(await stalled.text())
    expect(expectOffsets(frames)).toBe(full)
    expect(frames.at(-1)!.data).toBe('[DONE]')
  })

  it('several answers streaming at once do not mix', async () => {
    const contents = Array.from({ length: 8 }, (_, i) => `parallel question ${i}`)
    for (const [i, content] of contents.entries()) {
      env.fake.enqueue({
        match: r => r.body?.messages?.at(-1)?.content === content,
        chunks: Array.from({ length: 10 }, (_, j) => `[${i}:${j}]`),
        delayMs: 5,
      })
    }
    const results = await Promise.all(contents.map(async (content, i) => {
      const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, content)
      const frames = await (await openStream(env.client, streamUrl)).readUntilDone()
      const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
      return { i, text: expectOffsets(frames), stored: stored.content }
    }))
    for (const { i, text, stored } of results) {
      const expected = Array.from({ length: 10 }, (_, j) => `[${i}:${j}]`).join('')
      expect(text).toBe(expected)
      expect(stored).toBe(expected)
    }
  })

  it('two readers at once get identical full text', async () => {
    const chunks = EMOJI_CHUNKS.concat(EMOJI_CHUNKS)
    env.fake.enqueue({ chunks, delayMs: 10 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'two tabs')
    const [a, b] = await Promise.all([openStream(env.client, streamUrl), openStream(env.client, streamUrl)])
    const [fa, fb] = await Promise.all([a!.readUntilDone(), b!.readUntilDone()])
    expect(expectOffsets(fa)).toBe(chunks.join(''))
    expect(expectOffsets(fb)).toBe(chunks.join(''))
    expect((await waitFinal(env.client, chat.id, assistantMessage.id)).content).toBe(chunks.join(''))
  })

  it('a reader that disconnects mid-answer does not stop generation', async () => {
    const chunks = Array.from({ length: 12 }, (_, i) => `word${i} `)
    env.fake.enqueue({ chunks, delayMs: 25 })
    const n = env.fake.completions.length
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'keep going without me')
    const stream = await openStream(env.client, streamUrl)
    await stream.waitForText(t => t.length > 0)
    stream.cancel()
    const final = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(final).toMatchObject({ status: 'done', content: chunks.join('') })
    expect(await (await env.fake.waitForCompletion(n)).outcome).toBe('completed')
    // A reload afterwards gets all of it.
    const again = await openStream(env.client, streamUrl)
    expect(textOf(await again.readUntilDone())).toBe(chunks.join(''))
  })

  it('generation runs even when nobody ever reads the stream', async () => {
    env.fake.enqueue({ chunks: ['unread ', 'answer'] })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'no reader')
    expect(await waitFinal(env.client, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'unread answer' })
  })
})

describe('stop', () => {
  it('stops mid-answer: 200 Message stopped with the partial text, upstream aborted, stream ends with [DONE]', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Hello ', 'there, ', 'General ', 'Kenobi'], pauseAfter: 2, until: gate.promise })
    const n = env.fake.completions.length
    const aborted = env.fake.aborted
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'stop me')
    const upstream = await env.fake.waitForCompletion(n)
    const stream = await openStream(env.client, streamUrl)
    await stream.waitForText(t => t === 'Hello there, ')

    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: assistantMessage.id, chatId: chat.id, role: 'assistant', status: 'stopped', content: 'Hello there, ' })

    await env.fake.waitForAborted(aborted + 1)
    expect(await upstream.outcome).toBe('aborted')
    const frames = await stream.readUntilDone(5_000)
    await stream.waitEnd(3_000)
    expect(frames.at(-1)!.data).toBe('[DONE]')
    expect(frames.at(-1)!.id).toBe(String('Hello there, '.length))
    expect(stream.text).toBe('Hello there, ')
    gate.open()

    const stored = await getMessage(env.client, chat.id, assistantMessage.id)
    expect(stored).toMatchObject({ status: 'stopped', content: 'Hello there, ' })
    // The whole stream is still there for a reload, and a browser reconnecting at the end gets 204.
    const replay = await openStream(env.client, streamUrl)
    expect(expectOffsets(await replay.readUntilDone())).toBe('Hello there, ')
    expect((await openStream(env.client, streamUrl, { lastEventId: 'Hello there, '.length })).status).toBe(204)
  })

  it('stops before the first token: stopped with empty content', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['never'], pauseAfter: 0, until: gate.promise })
    const n = env.fake.completions.length
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'stop at once')
    const upstream = await env.fake.waitForCompletion(n)
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: assistantMessage.id, status: 'stopped', content: '' })
    expect(await upstream.outcome).toBe('aborted')
    gate.open()
    const stream = await openStream(env.client, streamUrl)
    const frames = await stream.readUntilDone()
    expect(frames.at(-1)).toEqual({ id: '0', data: '[DONE]' })
    expect(stream.text).toBe('')
    expect((await getMessage(env.client, chat.id, assistantMessage.id)).status).toBe('stopped')
  })

  it('stopping twice is harmless', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['a', 'b'], pauseAfter: 1, until: gate.promise })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'stop twice')
    await (await openStream(env.client, streamUrl)).waitForText(t => t === 'a')
    const path = `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`
    const [one, two] = await Promise.all([env.client.json('POST', path), env.client.json('POST', path)])
    for (const res of [one, two]) expect(res.status, res.text).toBeLessThan(500)
    const again = await env.client.json('POST', path)
    expect(again.status, again.text).toBeLessThan(500)
    gate.open()
    expect(await getMessage(env.client, chat.id, assistantMessage.id)).toMatchObject({ status: 'stopped', content: 'a' })
  })

  it('stop after the answer finished changes nothing and is not a server error', async () => {
    const { chat, assistantMessage } = await chatAndSend(env.client, 'finish then stop')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    expect(res.status, res.text).toBeLessThan(500)
    expect(await getMessage(env.client, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'Hello, world!' })
  })
})
