import type { H3Event } from 'h3'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { startAnswer } from '../../server/generation/answers'
import { MemoryRunRegistry } from '../../server/generation/memory-registry'
import type { GenerationIO } from '../../server/generation/registry'
import type { ReadResult, RunReader } from '../../server/generation/run'

/** What a Continue of a stopped answer starts from: its text so far and its stored state. */
const stopped = { content: 'The partial answer', status: 'stopped', usage: { promptTokens: 3, completionTokens: 4 } }
const job = { chatId: 'c', owner: 'o', model: 'm', continuation: { text: stopped.content, usage: stopped.usage } }

let registry: MemoryRunRegistry
let saved: { content: string, status: string, usage?: object, error?: object } | undefined

beforeEach(() => {
  const io: GenerationIO = {
    saveIntervalMs: 1000,
    complete: async function* () {},
    claim: async () => true,
    load: async () => undefined,
    history: async () => [],
    saveProgress: async () => {},
    finish: async () => {},
    log: { warn: vi.fn(), error: vi.fn() },
  }
  registry = new MemoryRunRegistry(io)
  saved = { ...stopped }
  // answers.ts runs on Nitro's auto-imports; here they are plain globals.
  vi.stubGlobal('useRuns', () => registry)
  vi.stubGlobal('assertAcceptingAnswers', () => {})
  vi.stubGlobal('admitAnswer', async () => () => {})
  vi.stubGlobal('setResponseStatus', () => {})
  vi.stubGlobal('messageStore', { state: async () => saved })
})

afterEach(() => {
  vi.unstubAllGlobals()
})

/** The reader's reads up to its end, or up to a read that does not come within `ms` (a run that never ends). */
async function readAll(reader: RunReader, ms = 500): Promise<(ReadResult | 'hangs')[]> {
  const reads: (ReadResult | 'hangs')[] = []
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined
    const read = await Promise.race([reader.next(), new Promise<'hangs'>(resolve => (timer = setTimeout(resolve, ms, 'hangs')))])
    clearTimeout(timer)
    reads.push(read)
    if (read === 'hangs' || read.final || read.abandoned) return reads
  }
}

describe('a Continue that does not start', () => {
  it('ends a reader that attached meanwhile with the answer\'s final frames (it does not ping forever)', async () => {
    let reader: RunReader | undefined
    const result = await startAnswer({} as H3Event, { id: 'a1', job }, async () => {
      // A reader attaches while the answer is being reopened; then the store refuses (not continuable).
      reader = await registry.attach('a1', 0)
      return undefined
    })
    expect(result).toBeUndefined()
    expect(reader).toBeDefined()
    expect(await readAll(reader!)).toEqual([
      { text: stopped.content, offset: stopped.content.length },
      { text: '', offset: stopped.content.length, final: { status: 'stopped', usage: stopped.usage } },
    ])
    expect(registry.size).toBe(0)
  })

  it('does the same when storing fails, with the error stored on the answer', async () => {
    saved = { ...stopped, status: 'error', error: { code: 'upstream_timeout', message: 'slow' } }
    let reader: RunReader | undefined
    await expect(startAnswer({} as H3Event, { id: 'a1', job }, async () => {
      reader = await registry.attach('a1', stopped.content.length)
      throw new Error('database is locked')
    })).rejects.toThrow('database is locked')
    expect(await readAll(reader!)).toEqual([
      { text: '', offset: stopped.content.length, final: { status: 'error', error: { code: 'upstream_timeout', message: 'slow' }, usage: stopped.usage } },
    ])
  })

  it('lets the reader go (to reconnect) when the answer is not final with that text any more', async () => {
    saved = { content: stopped.content, status: 'pending' }
    let reader: RunReader | undefined
    await startAnswer({} as H3Event, { id: 'a1', job }, async () => {
      reader = await registry.attach('a1', stopped.content.length)
      return undefined
    })
    expect(await readAll(reader!)).toEqual([{ text: '', offset: stopped.content.length, abandoned: true }])
  })
})
