import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, startFlume } from '../support/flume-server'
import { openStream, type SseFrame } from '../support/http'
import type { Scenario } from '../support/fake-openai'
import { chatAndSend, createClient, events, expectOffsets, getMessage, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_STALL_TIMEOUT_MS: '400', FLUME_UPSTREAM_TIMEOUT_MS: '400' })
})
afterAll(async () => {
  await env?.stop()
})

/** Sends a message whose upstream plays `scenario`; returns the stream's frames and the stored answer. */
async function failWith(scenario: Scenario, content = 'trigger an error') {
  env.fake.enqueue(scenario)
  const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, content)
  const stream = await openStream(env.client, streamUrl)
  const frames = await stream.readUntilDone(8_000)
  await stream.waitEnd(3_000)
  const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
  return { frames, stored, streamUrl, chat, assistantMessage }
}

function errorFrame(frames: SseFrame[]) {
  const evs = events(frames)
  expect(evs.at(-1)).toEqual({ type: 'done' })
  const errors = evs.filter(e => e.type === 'error')
  expect(errors, JSON.stringify(frames)).toHaveLength(1)
  expect(evs.at(-2)).toEqual(errors[0]) // error, then [DONE]
  const e = errors[0] as { type: 'error', code: string, message: string }
  expect(e.message.length).toBeGreaterThan(0)
  return e
}

describe('upstream HTTP errors become an error frame and an errored message', () => {
  it.each([
    [401, 'upstream_auth'],
    [403, 'upstream_auth'],
    [429, 'upstream_rate_limited'],
    [500, 'upstream_unavailable'],
    [503, 'upstream_unavailable'],
    [400, 'upstream_error'],
  ])('upstream %i -> %s', async (status, code) => {
    const { frames, stored } = await failWith({ status })
    expect(expectOffsets(frames)).toBe('')
    const e = errorFrame(frames)
    expect(e.code).toBe(code)
    expect(stored).toMatchObject({ status: 'error', content: '', error: { code } })
    expect(stored.error!.message.length).toBeGreaterThan(0)
    // The API key never leaks into what the user sees.
    expect(JSON.stringify(frames)).not.toContain('Bearer')
  })
})

describe('failures mid-answer keep the partial text', () => {
  it('a connection dropped mid-answer: error frame, partial text stored, status error with that code', async () => {
    const { frames, stored, streamUrl } = await failWith({ chunks: ['Partial ', 'text 🙂 ', 'then ', 'gone'], delayMs: 5, dropAfter: 2 })
    expect(expectOffsets(frames)).toBe('Partial text 🙂 ')
    const e = errorFrame(frames)
    expect(e.code).toBe('upstream_unavailable')
    expect(stored).toMatchObject({ status: 'error', content: 'Partial text 🙂 ', error: { code: e.code } })
    // Replayed later: the text, the error, [DONE]; and 204 at the end.
    const replay = await openStream(env.client, streamUrl)
    const again = await replay.readUntilDone()
    expect(expectOffsets(again)).toBe('Partial text 🙂 ')
    expect(errorFrame(again).code).toBe(e.code)
    expect((await openStream(env.client, streamUrl, { lastEventId: stored.content.length })).status).toBe(204)
  })

  it('an upstream that sends headers and then nothing: upstream_timeout', async () => {
    const n = env.fake.completions.length
    const started = Date.now()
    const { frames, stored } = await failWith({ hang: true })
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(errorFrame(frames).code).toBe('upstream_timeout')
    expect(stored).toMatchObject({ status: 'error', content: '', error: { code: 'upstream_timeout' } })
    // The silent request is given up, not left open.
    expect(await (await env.fake.waitForCompletion(n)).outcome).toBe('aborted')
  })

  it('an upstream that stalls mid-answer: upstream_timeout, partial text kept', async () => {
    const { frames, stored } = await failWith({ chunks: ['So far ', 'so good', ' and then'], delayMs: 5, hangAfter: 2 })
    expect(expectOffsets(frames)).toBe('So far so good')
    expect(errorFrame(frames).code).toBe('upstream_timeout')
    expect(stored).toMatchObject({ status: 'error', content: 'So far so good', error: { code: 'upstream_timeout' } })
  })

  it('an upstream that never sends its headers: upstream_timeout', async () => {
    const { frames, stored } = await failWith({ initialDelayMs: 3_000 })
    expect(errorFrame(frames).code).toBe('upstream_timeout')
    expect(stored).toMatchObject({ status: 'error', error: { code: 'upstream_timeout' } })
  })

  it('a slow but steady upstream is not a timeout', async () => {
    const chunks = ['slow ', 'but ', 'steady ', 'wins']
    const { frames, stored } = await failWith({ chunks, delayMs: 250, initialDelayMs: 250 }, 'slow is fine')
    expect(expectOffsets(frames)).toBe(chunks.join(''))
    expect(events(frames).some(e => e.type === 'error')).toBe(false)
    expect(stored).toMatchObject({ status: 'done', content: chunks.join('') })
  })

  it('an error event inside the upstream stream: error frame, partial text kept', async () => {
    const { frames, stored } = await failWith({ chunks: ['Half ', 'an ', 'answer'], delayMs: 5, errorAfter: 2 })
    expect(expectOffsets(frames)).toBe('Half an ')
    const e = errorFrame(frames)
    expect(['upstream_error', 'upstream_unavailable']).toContain(e.code)
    expect(stored).toMatchObject({ status: 'error', content: 'Half an ', error: { code: e.code } })
  })

  it('the error is on the message for a page loaded later', async () => {
    const { chat, assistantMessage } = await failWith({ status: 429 })
    const m = await getMessage(env.client, chat.id, assistantMessage.id)
    expect(m.error).toEqual({ code: 'upstream_rate_limited', message: expect.any(String) })
  })
})

describe('OpenAI-compatible servers that differ from OpenAI', () => {
  it('no usage chunk (stream_options ignored): done, no usage frame', async () => {
    env.fake.enqueue({ chunks: ['no ', 'usage'], noUsage: true })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'no usage please')
    const frames = await (await openStream(env.client, streamUrl)).readUntilDone()
    expect(expectOffsets(frames)).toBe('no usage')
    expect(events(frames).filter(e => e.type !== 'delta')).toEqual([{ type: 'done' }])
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored).toMatchObject({ status: 'done', content: 'no usage' })
    expect(stored.usage).toBeUndefined()
  })

  it('no [DONE] sentinel, the body just ends after finish_reason: done', async () => {
    env.fake.enqueue({ chunks: ['ends ', 'quietly'], omitDone: true })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'no sentinel')
    const frames = await (await openStream(env.client, streamUrl)).readUntilDone()
    expect(expectOffsets(frames)).toBe('ends quietly')
    expect(events(frames).some(e => e.type === 'error')).toBe(false)
    expect(await waitFinal(env.client, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'ends quietly' })
  })
})

describe('an upstream that is not there', () => {
  it('connection refused: upstream_unavailable', async () => {
    const port = await freePort() // nothing listens there
    const flume = await startFlume({
      OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
      OPENAI_API_KEY: 'test',
      FLUME_MODEL: 'gpt-fake',
      FLUME_UPSTREAM_MAX_RETRIES: '0',
    })
    try {
      const client = createClient(flume.url)
      const { chat, assistantMessage, streamUrl } = await chatAndSend(client, 'anyone?')
      const stream = await openStream(client, streamUrl)
      const frames = await stream.readUntilDone()
      expect(errorFrame(frames).code).toBe('upstream_unavailable')
      expect(await waitFinal(client, chat.id, assistantMessage.id)).toMatchObject({ status: 'error', error: { code: 'upstream_unavailable' } })
    }
    finally {
      await flume.stop()
    }
  })
})
