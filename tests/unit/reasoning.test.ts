import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { streamCompletion, type CompletionPart } from '../../server/generation/llm'
import { ThinkSplitter, reasoningOf, type ReasoningField } from '../../server/generation/reasoning'
import { Run } from '../../server/generation/run'
import { formatStreamId, parseStreamId } from '../../shared/stream-id'

/** Feeds `pieces` to a splitter; what came out as reasoning and as answer. */
function split(pieces: string[]) {
  const splitter = new ThinkSplitter()
  let reasoning = ''
  let answer = ''
  for (const piece of [...pieces.map(p => splitter.push(p)), splitter.flush()]) {
    reasoning += piece.reasoning
    answer += piece.answer
  }
  return { reasoning, answer }
}

/** Every way to cut `text` in two, and into single characters. */
function cuts(text: string): string[][] {
  const out = [[...text]]
  for (let i = 0; i <= text.length; i++) out.push([text.slice(0, i), text.slice(i)])
  return out
}

describe('inline <think> blocks', () => {
  it('splits reasoning from the answer wherever the tags are cut across chunks', () => {
    const raw = '<think>Two and two.\nSo four.</think>\n\nIt is **4**.'
    for (const pieces of cuts(raw)) {
      expect(split(pieces), JSON.stringify(pieces)).toEqual({ reasoning: 'Two and two.\nSo four.', answer: 'It is **4**.' })
    }
  })

  it('allows whitespace before the opening tag, and nothing else', () => {
    expect(split(['\n  <think>x</think>y'])).toEqual({ reasoning: 'x', answer: 'y' })
    expect(split(['Sure: <think>x</think>y'])).toEqual({ reasoning: '', answer: 'Sure: <think>x</think>y' })
  })

  it('leaves answers without a block untouched, even ones that start like a tag', () => {
    for (const raw of ['<thin ice', '<b>bold</b>', '<', '  hello', '<think', 'plain']) {
      for (const pieces of cuts(raw)) expect(split(pieces), JSON.stringify(pieces)).toEqual({ reasoning: '', answer: raw })
    }
  })

  it('keeps a later <think> in the answer as text', () => {
    expect(split(['<think>a</think>b <think>c</think>'])).toEqual({ reasoning: 'a', answer: 'b <think>c</think>' })
  })

  it('takes what came as reasoning when the stream ends inside the block, held-back tag start included', () => {
    expect(split(['<think>still thinking</th'])).toEqual({ reasoning: 'still thinking</th', answer: '' })
  })
})

describe('reasoning fields', () => {
  it('reads reasoning_content and reasoning, and sticks to the first field that carried text', () => {
    const field: { current?: ReasoningField } = {}
    expect(reasoningOf({ content: 'x' }, field)).toBe('')
    expect(reasoningOf({ reasoning: 'a', reasoning_content: 'a' }, field)).toBe('a')
    expect(field.current).toBe('reasoning_content')
    expect(reasoningOf({ reasoning: 'b', reasoning_content: 'b' }, field)).toBe('b')
    expect(reasoningOf({ reasoning: 'c' }, field)).toBe('')
    const ollama: { current?: ReasoningField } = {}
    expect(reasoningOf({ reasoning: 'd', reasoning_content: null }, ollama)).toBe('d')
    expect(ollama.current).toBe('reasoning')
  })
})

const encoder = new TextEncoder()

/** An openai client whose server sends these deltas, then usage and [DONE]. */
function upstream(deltas: Record<string, unknown>[], usage: Record<string, unknown> = { prompt_tokens: 1, completion_tokens: 2 }) {
  const fetch = async () => {
    const frame = (payload: unknown) => encoder.encode(`data: ${JSON.stringify(payload)}\n\n`)
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (const delta of deltas) {
          controller.enqueue(frame({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: null }] }))
          // One network read per delta, as a real stream mostly is.
          await new Promise(resolve => setTimeout(resolve, 1))
        }
        controller.enqueue(frame({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage }))
        controller.enqueue(encoder.encode('data: [DONE]\n\n'))
        controller.close()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
  }
  return new OpenAI({ apiKey: 'k', baseURL: 'http://upstream.invalid/v1', maxRetries: 0, fetch })
}

async function parts(client: OpenAI) {
  const out: CompletionPart[] = []
  for await (const part of streamCompletion({ client, model: 'm', messages: [{ role: 'user', content: 'q' }], signal: new AbortController().signal, stallTimeoutMs: 5000 })) out.push(part)
  const of = (type: string) => out.flatMap(p => (p.type === type && 'text' in p ? [p.text] : [])).join('')
  return { reasoning: of('reasoning'), answer: of('delta'), usage: out.find(p => p.type === 'usage'), order: out.map(p => p.type) }
}

describe('streamCompletion with reasoning', () => {
  it('yields reasoning_content deltas as reasoning, before the answer, and reports reasoning tokens', async () => {
    const got = await parts(upstream(
      [{ role: 'assistant', content: '' }, { reasoning_content: 'Let me ' }, { reasoning_content: 'see.' }, { content: 'Four.' }],
      { prompt_tokens: 3, completion_tokens: 9, completion_tokens_details: { reasoning_tokens: 6 } },
    ))
    expect(got).toMatchObject({ reasoning: 'Let me see.', answer: 'Four.', usage: { type: 'usage', promptTokens: 3, completionTokens: 9, reasoningTokens: 6 } })
    expect(got.order).toEqual(['reasoning', 'reasoning', 'delta', 'usage'])
  })

  it('takes the text once from a server that sends both reasoning fields', async () => {
    const got = await parts(upstream([{ reasoning: 'Hmm', reasoning_content: 'Hmm' }, { reasoning: '…', reasoning_content: '…' }, { content: 'Yes.' }]))
    expect(got).toMatchObject({ reasoning: 'Hmm…', answer: 'Yes.' })
  })

  it('splits an inline <think> block cut across chunks', async () => {
    const got = await parts(upstream([{ content: '<thi' }, { content: 'nk>Count: ' }, { content: 'one.</th' }, { content: 'ink>\n\nOne.' }]))
    expect(got).toMatchObject({ reasoning: 'Count: one.', answer: 'One.' })
  })

  it('leaves usage without reasoningTokens when the server reports none', async () => {
    const got = await parts(upstream([{ content: 'x' }]))
    expect(got.usage).toEqual({ type: 'usage', promptTokens: 1, completionTokens: 2 })
  })
})

describe('a run with reasoning', () => {
  it('serves reasoning and answer from any pair of offsets, reasoning first, without gap or duplicate', async () => {
    const run = new Run('m', 'o')
    run.appendReasoning('abc')
    run.appendReasoning('de')
    run.append('XY')
    const reader = run.reader(1, 2)
    expect(await reader.next()).toEqual({ text: 'Y', offset: 2, reasoning: 'cde', reasoningOffset: 5 })
    const pending = reader.next()
    run.appendReasoning('f')
    expect(await pending).toEqual({ text: '', offset: 2, reasoning: 'f', reasoningOffset: 6 })
    run.end({ status: 'done' })
    expect(await reader.next()).toEqual({ text: '', offset: 2, reasoningOffset: 6, final: { status: 'done' } })
  })

  it('gives readers without a reasoning offset the answer only, with the ids they had before', async () => {
    const run = new Run('m', 'o')
    run.appendReasoning('thinking')
    run.append('answer')
    expect(await run.reader(0).next()).toEqual({ text: 'answer', offset: 6 })
  })

  it('says an offset past either text is past the end', () => {
    const run = new Run('m', 'o')
    run.appendReasoning('ab')
    expect(run.reader(0, 3).pastEnd).toBe(true)
    expect(run.reader(0, 2).pastEnd).toBe(false)
    expect(run.reader(1, 0).pastEnd).toBe(true)
  })

  it('measures the thinking time up to the first answer text, and stores reasoning only when there is some', async () => {
    const run = new Run('m', 'o')
    expect(run.snapshot()).toEqual({ content: '' })
    run.appendReasoning('hmm')
    expect(run.reasoningMs).toBeUndefined()
    await new Promise(resolve => setTimeout(resolve, 30))
    run.append('ok')
    const ms = run.reasoningMs!
    expect(ms).toBeGreaterThanOrEqual(25)
    run.append(' more')
    expect(run.snapshot()).toEqual({ content: 'ok more', reasoning: 'hmm', reasoningMs: ms })
  })

  it('continues from stored reasoning: the seed is served as if it had streamed', async () => {
    const run = new Run('m', 'o', { text: 'Half', reasoning: 'Old thought', reasoningMs: 1200 })
    expect(await run.reader(0, 0).next()).toEqual({ text: 'Half', offset: 4, reasoning: 'Old thought', reasoningOffset: 11 })
    run.append(' done')
    expect(run.snapshot()).toEqual({ content: 'Half done', reasoning: 'Old thought', reasoningMs: 1200 })
  })
})

describe('stream ids', () => {
  it('writes the answer offset alone until there is reasoning, and reads both forms back', () => {
    expect(formatStreamId({ answer: 42, reasoning: 0 })).toBe('42')
    expect(formatStreamId({ answer: 0, reasoning: 7 })).toBe('0,7')
    expect(parseStreamId('42')).toEqual({ answer: 42, reasoning: 0 })
    expect(parseStreamId(' 3,17 ')).toEqual({ answer: 3, reasoning: 17 })
  })

  it('refuses anything else', () => {
    for (const bad of ['', ',', '1,', ',1', '1,2,3', '-1', '1.5', '1,-2', 'x', '1234567890', '1,1234567890', '١']) {
      expect(parseStreamId(bad), bad).toBeUndefined()
    }
  })
})
