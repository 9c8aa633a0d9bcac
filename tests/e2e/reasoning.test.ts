/**
 * A model's reasoning (docs/reasoning.md): read wherever OpenAI-compatible servers put it, stored
 * apart from the answer, streamed as `reasoning` frames whose ids carry both offsets, resumed
 * exactly, and never sent back to the model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate, type FakeDelta } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, openStream, type SseFrame } from '../support/http'
import { chatAndSend, expectError, expectOffsets, getMessage, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

/** Reasoning as DeepSeek, vLLM and llama.cpp send it, then the answer: with an emoji, CR LF and U+2028 in both. */
const THOUGHTS = ['Let me think 🤔', ' about it.\r\n', 'Two plus two\u2028is four.']
const ANSWER = ['It is ', '**4**', ' 🙂.\r\nDone.']
const DEEPSEEK: (string | FakeDelta)[] = [...THOUGHTS.map(t => ({ reasoning_content: t })), ...ANSWER]

interface Read { reasoning: string, answer: string, ids: string[], types: string[] }

/** What data frames say: reasoning and answer joined, every id, every type. */
function read(frames: SseFrame[]): Read {
  const out: Read = { reasoning: '', answer: '', ids: [], types: [] }
  for (const frame of frames) {
    if (frame.data === undefined) continue
    out.ids.push(frame.id ?? '')
    if (frame.data === '[DONE]') {
      out.types.push('done')
      continue
    }
    const event = JSON.parse(frame.data) as { type: string, text?: string }
    out.types.push(event.type)
    if (event.type === 'reasoning') out.reasoning += event.text
    if (event.type === 'delta') out.answer += event.text
  }
  return out
}

/** Each frame's id is where the reader is after it: `<answer>` without reasoning, else `<answer>,<reasoning>`. */
function expectIds(frames: SseFrame[], from = { answer: 0, reasoning: 0 }) {
  const at = { ...from }
  for (const frame of frames) {
    if (frame.data === undefined) continue
    if (frame.data !== '[DONE]') {
      const event = JSON.parse(frame.data) as { type: string, text?: string }
      if (event.type === 'reasoning') at.reasoning += event.text!.length
      if (event.type === 'delta') at.answer += event.text!.length
    }
    expect(frame.id, frame.data).toBe(at.reasoning ? `${at.answer},${at.reasoning}` : String(at.answer))
  }
}

describe('reasoning in the stream', () => {
  it('streams reasoning_content as reasoning frames before the answer, and stores both apart', async () => {
    env.fake.enqueue({ chunks: DEEPSEEK, delayMs: 20, usage: { prompt_tokens: 5, completion_tokens: 11, completion_tokens_details: { reasoning_tokens: 6 } } })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'think please')
    const stream = await openStream(env.client, streamUrl)
    const frames = await stream.readUntilDone()
    const got = read(frames)
    expect(got.reasoning).toBe(THOUGHTS.join(''))
    expect(got.answer).toBe(ANSWER.join(''))
    // Reasoning came first, frame by frame (one network read each), then the answer.
    expect(got.types.indexOf('delta')).toBeGreaterThan(got.types.lastIndexOf('reasoning'))
    expect(got.types.filter(t => t === 'reasoning').length).toBeGreaterThan(1)
    expectIds(frames)

    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored).toMatchObject({
      status: 'done',
      content: ANSWER.join(''),
      reasoning: THOUGHTS.join(''),
      usage: { promptTokens: 5, completionTokens: 11, reasoningTokens: 6 },
    })
    // Thought until the answer began: at least the pauses between the reasoning chunks.
    expect(stored.reasoningMs).toBeGreaterThanOrEqual(40)
    const usage = frames.map(f => f.data).find(d => d?.includes('"usage"'))
    expect(JSON.parse(usage!)).toEqual({ type: 'usage', promptTokens: 5, completionTokens: 11, reasoningTokens: 6 })
  })

  it('splits an inline <think> block cut across chunks and bytes, and keeps it out of the answer', async () => {
    env.fake.enqueue({ chunks: ['<thi', 'nk>Hmm, ', 'é🙂 ok</th', 'ink>\n\n', 'Answer <think>literal</think>'], fragment: true })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'inline')
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored.reasoning).toBe('Hmm, é🙂 ok')
    expect(stored.content).toBe('Answer <think>literal</think>')
  })

  it('reads Ollama\'s and OpenRouter\'s `reasoning`, and takes it once from a server that sends both fields', async () => {
    env.fake.enqueue({ chunks: [{ reasoning: 'A' }, { reasoning: 'B' }, 'C'] })
    const one = await chatAndSend(env.client, 'ollama')
    expect(await waitFinal(env.client, one.chat.id, one.assistantMessage.id)).toMatchObject({ reasoning: 'AB', content: 'C' })
    env.fake.enqueue({ chunks: [{ reasoning: 'x', reasoning_content: 'x' }, { reasoning: 'y', reasoning_content: 'y' }, 'z'] })
    const both = await chatAndSend(env.client, 'both')
    expect(await waitFinal(env.client, both.chat.id, both.assistantMessage.id)).toMatchObject({ reasoning: 'xy', content: 'z' })
  })

  it('keeps the contract\'s frames and ids exactly for an answer without reasoning', async () => {
    env.fake.enqueue({ chunks: ['plain ', 'answer'] })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'no thinking')
    const frames = await (await openStream(env.client, streamUrl)).readUntilDone()
    expect(expectOffsets(frames)).toBe('plain answer')
    expect(read(frames).types).not.toContain('reasoning')
    const stored = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stored).not.toHaveProperty('reasoning')
    expect(stored).not.toHaveProperty('reasoningMs')
  })
})

describe('resuming reasoning', () => {
  it('resumes from every frame id of a finished answer with no gap and no duplicate in either text', async () => {
    env.fake.enqueue({ chunks: DEEPSEEK })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'resume me')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const whole = read(await (await openStream(env.client, streamUrl)).readUntilDone())
    const ids = [...new Set(whole.ids)]
    for (const id of ['0', ...ids.slice(0, -1)]) {
      const [answer = 0, reasoning = 0] = id.split(',').map(Number)
      const frames = await (await openStream(env.client, streamUrl, { lastEventId: id })).readUntilDone()
      const rest = read(frames)
      expect(THOUGHTS.join('').slice(0, reasoning) + rest.reasoning, id).toBe(whole.reasoning)
      expect(ANSWER.join('').slice(0, answer) + rest.answer, id).toBe(whole.answer)
      expectIds(frames, { answer, reasoning })
    }
    // Both ends reached: a browser reconnecting after the end stops for good.
    const end = await openStream(env.client, streamUrl, { lastEventId: whole.ids.at(-1)! })
    expect(end.status).toBe(204)
    // The answer's offset alone means no reasoning read yet: all of it comes again, none of the answer.
    const old = read(await (await openStream(env.client, `${streamUrl}?offset=${ANSWER.join('').length}`)).readUntilDone())
    expect(old).toMatchObject({ reasoning: whole.reasoning, answer: '' })
  })

  it('resumes a live answer after a dropped connection, mid-reasoning and mid-answer, as the browser does', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: DEEPSEEK, pauseAfter: 2, until: gate.promise, delayMs: 5 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'live resume')
    const first = await openStream(env.client, streamUrl)
    await first.waitForFrame(f => f.id === `0,${THOUGHTS[0]!.length + THOUGHTS[1]!.length}`)
    const lastId = first.frames.filter(f => f.data !== undefined).at(-1)!.id!
    first.cancel()
    gate.open()
    const second = await openStream(env.client, streamUrl, { lastEventId: lastId })
    const seen = read(first.frames)
    const frames = await second.readUntilDone()
    const rest = read(frames)
    expect(seen.reasoning + rest.reasoning).toBe(THOUGHTS.join(''))
    expect(seen.answer + rest.answer).toBe(ANSWER.join(''))
    expectIds(frames, { answer: 0, reasoning: seen.reasoning.length })
    expect((await waitFinal(env.client, chat.id, assistantMessage.id)).reasoning).toBe(THOUGHTS.join(''))
  })

  it('refuses an offset past either text with 400 invalid_offset, live and finished', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: DEEPSEEK, pauseAfter: 1, until: gate.promise })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'offsets')
    const live = await openStream(env.client, streamUrl)
    await live.waitForFrame(f => f.id === `0,${THOUGHTS[0]!.length}`)
    live.cancel()
    expectError(await env.client.json('GET', `${streamUrl}?offset=0,${THOUGHTS[0]!.length + 1}`), 400, 'invalid_offset')
    gate.open()
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const lengths = { answer: ANSWER.join('').length, reasoning: THOUGHTS.join('').length }
    expectError(await env.client.json('GET', `${streamUrl}?offset=${lengths.answer},${lengths.reasoning + 1}`), 400, 'invalid_offset')
    expectError(await env.client.json('GET', `${streamUrl}?offset=${lengths.answer + 1},0`), 400, 'invalid_offset')
    for (const bad of ['1,2,3', '1,', ',1', '1;2', '-1,0']) {
      expectError(await env.client.json('GET', `${streamUrl}?offset=${encodeURIComponent(bad)}`), 400, 'invalid_offset')
    }
  })

  it('sends plain-text readers the answer only', async () => {
    env.fake.enqueue({ chunks: DEEPSEEK })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'text format')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const res = await env.client.fetch(`${streamUrl}?format=text`)
    expect(await res.text()).toBe(ANSWER.join(''))
  })
})

describe('reasoning and the conversation', () => {
  it('is never sent back to the model: the next request carries each answer\'s content only', async () => {
    env.fake.enqueue({ chunks: DEEPSEEK })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'first question')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const before = env.fake.completions.length
    env.fake.enqueue({ chunks: ['second answer'] })
    const next = await send(env.client, chat.id, 'second question')
    await waitFinal(env.client, chat.id, next.assistantMessage.id)
    const request = env.fake.completions[before]!
    expect(request.body.messages).toEqual([
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: ANSWER.join('') },
      { role: 'user', content: 'second question' },
    ])
    expect(request.rawBody).not.toContain('Two plus two')
  })

  it('continues a stopped answer with its reasoning kept, and the continuation\'s reasoning added', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: [{ reasoning_content: 'first thought' }, 'Half'], pauseAfter: 2, until: gate.promise })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'stop me')
    const stream = await openStream(env.client, streamUrl)
    await stream.waitForText(text => text === 'Half')
    const stop = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    expect(stop.status).toBeLessThan(300)
    gate.open()
    const stopped = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(stopped).toMatchObject({ status: 'stopped', content: 'Half', reasoning: 'first thought' })

    env.fake.enqueue({ chunks: [{ reasoning_content: ' and more' }, ' done'] })
    const cont = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/continue`)
    expect(cont.status).toBe(202)
    const frames = await (await openStream(env.client, `${streamUrl}?offset=4,13`)).readUntilDone()
    expect(read(frames)).toMatchObject({ reasoning: ' and more', answer: ' done' })
    const done = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(done).toMatchObject({ status: 'done', content: 'Half done', reasoning: 'first thought and more' })
    expect((await getMessage(env.client, chat.id, assistantMessage.id)).reasoningMs).toBeGreaterThanOrEqual(0)
  })
})

describe('the demo model thinks when asked', () => {
  let flume: FlumeServer
  beforeAll(async () => {
    flume = await startFlume({ FLUME_DEMO_DELAY_MS: '1' })
  })
  afterAll(async () => {
    await flume?.stop()
  })

  it('reasons before its answer on a question that asks it to think, and not otherwise', async () => {
    const client = createClient(flume.url)
    const asked = await chatAndSend(client, 'Think step by step: what is Flume?')
    const frames = await (await openStream(client, asked.streamUrl)).readUntilDone(20_000)
    const got = read(frames)
    expect(got.reasoning).toContain('reasoning_content')
    expect(got.types.indexOf('delta')).toBeGreaterThan(got.types.lastIndexOf('reasoning'))
    const stored = await waitFinal(client, asked.chat.id, asked.assistantMessage.id)
    expect(stored.reasoning).toBe(got.reasoning)
    expect(stored.usage?.reasoningTokens).toBeGreaterThan(0)

    const plain = await chatAndSend(client, 'Hello there')
    expect(await waitFinal(client, plain.chat.id, plain.assistantMessage.id)).not.toHaveProperty('reasoning')
  })
})
