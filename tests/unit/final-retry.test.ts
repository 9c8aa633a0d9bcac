import { afterEach, describe, expect, it, vi } from 'vitest'
import type { CompletionPart } from '../../server/generation/llm'
import { MemoryRunRegistry } from '../../server/generation/memory-registry'
import type { GenerationIO } from '../../server/generation/registry'
import type { RunFinal } from '../../server/generation/run'

const job = { chatId: 'c', owner: 'o', model: 'm' }

/**
 * A registry whose database refuses the final state `failures` times (disk full, a lock held by
 * another process), then takes it; `attempts` has the (fake) time of every try.
 */
function setup(failures: number) {
  const attempts: number[] = []
  const stored = new Map<string, RunFinal & { content: string }>()
  const log = { warn: vi.fn(), error: vi.fn() }
  const io: GenerationIO = {
    saveIntervalMs: 60_000,
    complete: async function* (): AsyncGenerator<CompletionPart> {
      yield { type: 'delta', text: 'Every ' }
      yield { type: 'delta', text: 'word counts.' }
      yield { type: 'usage', promptTokens: 1, completionTokens: 2 }
    },
    claim: async () => true,
    load: async () => undefined,
    history: async () => [{ role: 'user', content: 'hi' }],
    saveProgress: async () => {},
    finish: async (id, final) => {
      attempts.push(Date.now())
      if (attempts.length <= failures) throw new Error('SQLITE_FULL: database or disk is full')
      stored.set(id, final)
    },
    log,
  }
  return { registry: new MemoryRunRegistry(io), attempts, stored, log, io }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('the final state of an answer the database refuses', () => {
  it('is retried with capped exponential backoff until it is stored, however long that takes, with the whole text', async () => {
    vi.useFakeTimers()
    const { registry, attempts, stored, log } = setup(12)
    const run = registry.reserve('m1', 'o')
    const launched = registry.launch(run, job)
    await vi.advanceTimersByTimeAsync(60_000)
    await launched
    expect(stored.get('m1')).toEqual({ content: 'Every word counts.', status: 'done', usage: { promptTokens: 1, completionTokens: 2 } })
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!)
    expect(gaps).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 5000, 5000])
    // Loudly, but not once per attempt: the first failure, then every 30 s at most.
    expect(log.error).toHaveBeenCalledTimes(2)
    expect(String(log.error.mock.calls[0]![0])).toMatch(/could not store the final answer of m1/)
    expect(registry.size).toBe(0)
  })

  it('serves readers from memory meanwhile: the whole text and the final frames, also to one who comes later', async () => {
    vi.useFakeTimers()
    const { registry, stored } = setup(Number.POSITIVE_INFINITY)
    const run = registry.reserve('m1', 'o')
    const reader = (await registry.attach('m1', 0))!
    void registry.launch(run, job)
    await vi.advanceTimersByTimeAsync(20_000)
    expect(stored.size).toBe(0)
    const final = { status: 'done', usage: { promptTokens: 1, completionTokens: 2 } }
    expect(await reader.next()).toEqual({ text: 'Every word counts.', offset: 18 })
    expect(await reader.next()).toEqual({ text: '', offset: 18, final })
    // Still this process's run (the database would give an older text): read from memory.
    expect(await registry.isRunning('m1')).toBe(true)
    const later = (await registry.attach('m1', 6))!
    expect(await later.next()).toEqual({ text: 'word counts.', offset: 18 })
    expect(await later.next()).toEqual({ text: '', offset: 18, final })
  })

  it('stops being retried when the server shuts down, at once, so that shutdown ends within its grace', async () => {
    vi.useFakeTimers()
    const { registry, attempts, log } = setup(Number.POSITIVE_INFINITY)
    const run = registry.reserve('m1', 'o')
    void registry.launch(run, job)
    await vi.advanceTimersByTimeAsync(10_000)
    const before = attempts.length
    let drained = false
    void registry.interruptAll().then(() => (drained = true))
    await vi.advanceTimersByTimeAsync(0)
    expect(drained).toBe(true)
    expect(attempts.length).toBe(before)
    expect(registry.size).toBe(0)
    expect(String(log.error.mock.calls.at(-1)![0])).toMatch(/gave up storing the final answer of m1: the server is shutting down/)
  })
})

describe('a database that fails as the answer starts', () => {
  it('ends the answer with storage_unavailable, not as a model failure, and asks the model nothing', async () => {
    for (const broken of ['claim', 'history'] as const) {
      const { registry, stored, log, io } = setup(0)
      const complete = vi.fn()
      io.complete = complete
      io[broken] = async () => {
        throw new Error('SQLITE_BUSY: database is locked')
      }
      const run = registry.reserve('m1', 'o')
      const reader = (await registry.attach('m1', 0))!
      const final = await registry.launch(run, job)
      expect(final).toEqual({ status: 'error', error: { code: 'storage_unavailable', message: expect.stringMatching(/database/) } })
      expect(await reader.next()).toEqual({ text: '', offset: 0, final })
      expect(stored.get('m1')).toEqual({ content: '', ...final })
      expect(complete).not.toHaveBeenCalled()
      expect(log.error).toHaveBeenCalledOnce()
    }
  })
})
