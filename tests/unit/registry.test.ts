import { afterEach, describe, expect, it, vi } from 'vitest'
import { UpstreamError, type ChatTurn, type CompletionPart } from '../../server/generation/llm'
import { MemoryRunRegistry } from '../../server/generation/memory-registry'
import type { GenerationIO } from '../../server/generation/registry'
import type { RunFinal } from '../../server/generation/run'

const job = { chatId: 'c', owner: 'o', model: 'm' }

/** A registry whose "database" is a map and whose model is an async generator we control. */
function setup(model: (signal: AbortSignal, request: Parameters<GenerationIO['complete']>[0]) => AsyncIterable<CompletionPart>) {
  const saved = new Map<string, string>()
  const finished = new Map<string, RunFinal & { content: string }>()
  const io: GenerationIO = {
    saveIntervalMs: 20,
    complete: request => model(request.signal, request),
    claim: async () => true,
    load: async () => undefined,
    history: async () => [{ role: 'user', content: 'hi' }],
    saveProgress: async (items) => {
      for (const item of items) saved.set(item.id, item.content)
    },
    finish: async (id, final) => {
      finished.set(id, final)
    },
    log: { warn: vi.fn(), error: vi.fn() },
  }
  return { registry: new MemoryRunRegistry(io), saved, finished, io }
}

const tick = (ms: number) => new Promise(r => setTimeout(r, ms))

async function* words(list: string[], delayMs: number, signal: AbortSignal): AsyncGenerator<CompletionPart> {
  for (const word of list) {
    await tick(delayMs)
    if (signal.aborted) return
    yield { type: 'delta', text: word }
  }
  yield { type: 'usage', promptTokens: 2, completionTokens: list.length }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('MemoryRunRegistry', () => {
  it('does not write an answer whose claim fails (another instance took it): no model call, nothing stored, readers let go', async () => {
    const model = vi.fn((signal: AbortSignal) => words(['x'], 1, signal))
    const { registry, finished, io } = setup(model)
    io.claim = async () => false
    const run = registry.reserve('m1', 'o')
    const reader = (await registry.attach('m1', 0))!
    await registry.launch(run, job)
    expect(model).not.toHaveBeenCalled()
    expect(finished.has('m1')).toBe(false)
    expect(await reader.next()).toMatchObject({ text: '', abandoned: true })
    expect(registry.size).toBe(0)
  })

  it('runs a generation to its end, stores the final text and usage, then forgets the run', async () => {
    const { registry, finished } = setup(signal => words(['a', 'b', 'c'], 1, signal))
    const run = registry.reserve('m1', 'o')
    const final = await registry.launch(run, job)
    expect(final).toEqual({ status: 'done', usage: { promptTokens: 2, completionTokens: 3 } })
    expect(finished.get('m1')).toEqual({ content: 'abc', status: 'done', usage: { promptTokens: 2, completionTokens: 3 } })
    expect(registry.size).toBe(0)
    expect(await registry.attach('m1', 0)).toBeUndefined()
  })

  it('saves the text of a running answer on a timer, before it ends', async () => {
    const { registry, saved } = setup(signal => words(Array.from({ length: 30 }, (_, i) => `w${i} `), 5, signal))
    const run = registry.reserve('m1', 'o')
    const done = registry.launch(run, job)
    await vi.waitFor(() => expect(saved.get('m1')?.length).toBeGreaterThan(0), { timeout: 1000, interval: 5 })
    expect(run.final).toBeUndefined()
    expect(run.text().startsWith(saved.get('m1')!)).toBe(true)
    await done
  })

  it('stop() aborts the model, keeps the partial text and ends as stopped', async () => {
    let aborted = false
    const { registry, finished } = setup(async function* (signal) {
      signal.addEventListener('abort', () => (aborted = true))
      yield* words(['one ', 'two ', 'three ', 'four'], 15, signal)
    })
    const run = registry.reserve('m1', 'o')
    const done = registry.launch(run, job)
    const reader = run.reader(0)
    expect((await reader.next()).text).toBe('one ')
    expect(await registry.stop('m1')).toBe(true)
    expect(aborted).toBe(true)
    expect((await done).status).toBe('stopped')
    expect(finished.get('m1')?.content).toBe('one ')
    expect(await registry.stop('m1')).toBe(false)
  })

  it('keeps what was generated when the model fails, with the error code', async () => {
    const { registry, finished } = setup(async function* () {
      yield { type: 'delta', text: 'partial' }
      throw new UpstreamError('upstream_unavailable', 'The connection to the model server was lost mid-answer.')
    })
    const run = registry.reserve('m1', 'o')
    const final = await registry.launch(run, job)
    expect(final).toEqual({ status: 'error', error: { code: 'upstream_unavailable', message: 'The connection to the model server was lost mid-answer.' } })
    expect(finished.get('m1')?.content).toBe('partial')
  })

  it('tells readers the end only after the final state is stored', async () => {
    const order: string[] = []
    const { registry, io } = setup(signal => words(['x'], 1, signal))
    const store = io.finish
    io.finish = async (id, final) => {
      await tick(20)
      await store(id, final)
      order.push('stored')
    }
    const run = registry.reserve('m1', 'o')
    const reader = run.reader(0)
    void registry.launch(run, job)
    for (;;) {
      const r = await reader.next()
      if (r.final) {
        order.push('reader saw end')
        break
      }
    }
    expect(order).toEqual(['stored', 'reader saw end'])
  })
})

describe('MemoryRunRegistry.interruptAll', () => {
  it('ends running answers as interrupted with their text kept, and aborts the model', async () => {
    const { registry, finished } = setup(signal => words(['a ', 'b ', 'c ', 'd ', 'e '], 20, signal))
    const run = registry.reserve('m1', 'o')
    const done = registry.launch(run, job)
    const reader = run.reader(0)
    expect((await reader.next()).text).toBe('a ')
    await registry.interruptAll()
    const final = await done
    expect(final.status).toBe('error')
    expect(final.error?.code).toBe('interrupted')
    expect(finished.get('m1')?.content).toBe(run.text())
    expect(run.text().startsWith('a ')).toBe(true)
    expect(run.controller.signal.aborted).toBe(true)
  })
})

describe('MemoryRunRegistry.onFinished', () => {
  it('tells a listener once the final state is stored, with the job and the text', async () => {
    const { registry, io, finished } = setup(signal => words(['a', 'b'], 1, signal))
    const seen: unknown[] = []
    io.onFinished = (event) => {
      expect(finished.has(event.messageId)).toBe(true)
      seen.push(event)
    }
    const run = registry.reserve('m1', 'o')
    await registry.launch(run, job)
    expect(seen).toEqual([{ ...job, messageId: 'm1', content: 'ab', final: { status: 'done', usage: { promptTokens: 2, completionTokens: 2 } } }])
  })

  it('continues an answer: readers get the old text first, the model sees it, and the usage adds up', async () => {
    let sent: ChatTurn[] = []
    const { registry, finished } = setup((signal, request) => {
      sent = request.messages
      return words(['c', 'd'], 1, signal)
    })
    const run = registry.reserve('m1', 'o', { text: 'a b ' })
    const reader = (await registry.attach('m1', 0))!
    const final = await registry.launch(run, { ...job, systemPrompt: 'Be brief.', continuation: { text: 'a b ', usage: { promptTokens: 5, completionTokens: 3 } } })
    expect(final).toMatchObject({ status: 'done', usage: { promptTokens: 7, completionTokens: 5 } })
    expect(finished.get('m1')?.content).toBe('a b cd')
    expect((await reader.next()).text).toBe('a b cd')
    expect(sent.slice(0, 3)).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'a b ' }])
    expect(sent[3]).toMatchObject({ role: 'user' })
  })
})
