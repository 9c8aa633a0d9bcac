import { randomBytes } from 'node:crypto'
import Redis from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { CompletionPart } from '../../server/generation/llm'
import { RedisRunRegistry } from '../../server/generation/redis-registry'
import type { GenerationIO } from '../../server/generation/registry'
import type { RunReader } from '../../server/generation/run'

const redisUrl = process.env.FLUME_TEST_REDIS_URL
if (!redisUrl) console.log('redis-registry: skipped, FLUME_TEST_REDIS_URL is not set (eval "$(bash .ci/services.sh)")')

const LEASE_MS = 400
const job = { chatId: 'c', owner: 'o', model: 'm' }
const tick = (ms: number) => new Promise(r => setTimeout(r, ms))

interface Row { content: string, reasoning?: string, status: string, error?: { code: string } }

/** One "database" shared by the instances of a test, and a model each instance drives. */
function cluster(prefix: string) {
  const rows = new Map<string, Row>()
  const registries: RedisRunRegistry[] = []
  function instance(model: (signal: AbortSignal) => AsyncIterable<CompletionPart>) {
    const io: GenerationIO = {
      saveIntervalMs: 50,
      complete: request => model(request.signal),
      claim: async (id) => {
        const row = rows.get(id)
        if (row?.status !== 'pending') return false
        row.status = 'streaming'
        return true
      },
      history: async () => [{ role: 'user', content: 'hi' }],
      saveProgress: async (items) => {
        for (const item of items) {
          const row = rows.get(item.id)
          if (row && (row.status === 'pending' || row.status === 'streaming')) row.content = item.content
        }
      },
      finish: async (id, final) => {
        const row = rows.get(id)
        if (row && (row.status === 'pending' || row.status === 'streaming')) {
          rows.set(id, { content: final.content, ...(final.reasoning ? { reasoning: final.reasoning } : {}), status: final.status, ...(final.error ? { error: final.error } : {}) })
        }
      },
      load: async id => rows.get(id),
      log: { warn: vi.fn(), error: vi.fn() },
    }
    const registry = new RedisRunRegistry(io, { url: redisUrl!, prefix, leaseMs: LEASE_MS })
    registries.push(registry)
    return registry
  }
  return { rows, instance, registries }
}

/** Words at a pace, until aborted; `hang` never ends on its own. */
async function* words(list: string[], delayMs: number, signal: AbortSignal, hang = false): AsyncGenerator<CompletionPart> {
  for (const word of list) {
    await tick(delayMs)
    if (signal.aborted) return
    yield { type: 'delta', text: word }
  }
  while (hang && !signal.aborted) await tick(10)
}

async function readAll(reader: RunReader) {
  let text = ''
  const ids: number[] = []
  for (;;) {
    const r = await reader.next()
    text += r.text
    if (r.text) ids.push(r.offset)
    if (r.final || r.abandoned) return { ...r, text, ids }
  }
}

let admin: Redis
const clusters: ReturnType<typeof cluster>[] = []
let prefix = ''

beforeAll(() => {
  if (redisUrl) admin = new Redis(redisUrl)
})
afterAll(async () => {
  await admin?.quit()
})
afterEach(async () => {
  for (const c of clusters.splice(0)) await Promise.all(c.registries.map(r => r.close()))
  if (prefix) {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length) await admin.del(...keys)
  }
})

function newCluster() {
  prefix = `flume-test:${randomBytes(4).toString('hex')}:`
  const c = cluster(prefix)
  clusters.push(c)
  return c
}

describe.skipIf(!redisUrl)('RedisRunRegistry', () => {
  it('a reader on another instance follows the answer live from any offset, with the same text and ids', async () => {
    const { rows, instance } = newCluster()
    const a = instance(signal => words(['Hel', 'lo, ', 'wor', 'ld', ' 💥', '!'], 20, signal))
    const b = instance(() => words([], 0, new AbortController().signal))
    rows.set('m1', { content: '', status: 'pending' })
    const run = a.reserve('m1', 'o')
    const done = a.launch(run, job)
    await tick(50)
    const fromStart = (await b.attach('m1', 0))!
    const fromThree = (await b.attach('m1', 3))!
    expect(fromStart).toBeDefined()
    const doneAt = done.then(() => Date.now())
    const [all, rest] = await Promise.all([readAll(fromStart), readAll(fromThree)])
    // Live, not from the upkeep's periodic check of a lease that is gone.
    expect(Date.now() - await doneAt).toBeLessThan(LEASE_MS / 2)
    expect(await done).toEqual({ status: 'done' })
    expect(all.text).toBe('Hello, world 💥!')
    expect(rest.text).toBe('lo, world 💥!')
    expect(all.final).toEqual({ status: 'done' })
    expect(all.ids.at(-1)).toBe('Hello, world 💥!'.length)
    expect(rows.get('m1')).toMatchObject({ status: 'done', content: 'Hello, world 💥!' })
    // Nothing of it stays in Redis but its stream, which expires.
    expect(await admin.exists(`${prefix}lease:m1`)).toBe(0)
    expect(await admin.zcard(`${prefix}running`)).toBe(0)
    expect(await admin.pttl(`${prefix}run:m1`)).toBeGreaterThan(0)
    expect(await b.attach('m1', 0)).toBeUndefined()
  })

  it('a reader on another instance gets the reasoning too, from its own offset, without gap or duplicate', async () => {
    const { rows, instance } = newCluster()
    async function* thinker(signal: AbortSignal): AsyncGenerator<CompletionPart> {
      for (const part of [{ type: 'reasoning', text: 'Think' }, { type: 'reasoning', text: 'ing 🤔' }, { type: 'delta', text: 'Ans' }, { type: 'delta', text: 'wer' }] as const) {
        await tick(20)
        if (signal.aborted) return
        yield part
      }
    }
    const a = instance(thinker)
    const b = instance(() => words([], 0, new AbortController().signal))
    rows.set('m1', { content: '', status: 'pending' })
    const done = a.launch(a.reserve('m1', 'o'), job)
    await tick(30)
    const all = (await b.attach('m1', 0, 0))!
    const late = (await b.attach('m1', 0, 2))!
    const answerOnly = (await b.attach('m1', 0))!
    const collect = async (reader: RunReader) => {
      let reasoning = ''
      let text = ''
      for (;;) {
        const r = await reader.next()
        reasoning += r.reasoning ?? ''
        text += r.text
        if (r.final || r.abandoned) return { reasoning, text, at: [r.offset, r.reasoningOffset] }
      }
    }
    const [x, y, z] = await Promise.all([collect(all), collect(late), collect(answerOnly)])
    await done
    expect(x).toEqual({ reasoning: 'Thinking 🤔', text: 'Answer', at: [6, 'Thinking 🤔'.length] })
    expect(y).toEqual({ reasoning: 'inking 🤔', text: 'Answer', at: [6, 'Thinking 🤔'.length] })
    expect(z).toEqual({ reasoning: '', text: 'Answer', at: [6, undefined] })
    expect(rows.get('m1')).toMatchObject({ status: 'done', content: 'Answer', reasoning: 'Thinking 🤔' })
  })

  it('a continued answer starts from its old text: offsets stay exact on other instances', async () => {
    const { rows, instance } = newCluster()
    const a = instance(signal => words([' and', ' more'], 40, signal))
    const b = instance(() => words([], 0, new AbortController().signal))
    rows.set('m1', { content: 'Old text', status: 'pending' })
    const done = a.launch(a.reserve('m1', 'o', { text: 'Old text' }), { ...job, continuation: { text: 'Old text' } })
    await tick(50)
    const reader = (await b.attach('m1', 'Old text'.length))!
    const read = await readAll(reader)
    await done
    expect(read.text).toBe(' and more')
    expect(read.offset).toBe('Old text and more'.length)
  })

  it('exactly one instance writes an answer both try to start', async () => {
    const { rows, instance } = newCluster()
    const model = vi.fn((signal: AbortSignal) => words(['one', ' writer'], 10, signal))
    const a = instance(model)
    const b = instance(model)
    rows.set('m1', { content: '', status: 'pending' })
    const results = await Promise.all([a.launch(a.reserve('m1', 'o'), job), b.launch(b.reserve('m1', 'o'), job)])
    expect(model).toHaveBeenCalledTimes(1)
    expect(results.map(r => r.status).sort()).toEqual(['done', 'stopped'])
    expect(rows.get('m1')).toMatchObject({ status: 'done', content: 'one writer' })
  })

  it('stop on another instance aborts the writer and returns once `stopped` is stored', async () => {
    const { rows, instance } = newCluster()
    let aborted = false
    const a = instance((signal) => {
      signal.addEventListener('abort', () => (aborted = true))
      return words(['a', 'b'], 5, signal, true)
    })
    const b = instance(() => words([], 0, new AbortController().signal))
    rows.set('m1', { content: '', status: 'pending' })
    const done = a.launch(a.reserve('m1', 'o'), job)
    await tick(60)
    expect(await b.settle('m1', { status: 'stopped' })).toBe(false)
    expect(await b.stop('m1')).toBe(true)
    expect(aborted).toBe(true)
    expect(rows.get('m1')).toMatchObject({ status: 'stopped', content: 'ab' })
    expect(await done).toEqual({ status: 'stopped' })
  })

  it('an instance that dies mid-answer: its answer ends `interrupted` with its text once the lease runs out, and readers elsewhere get the end', async () => {
    const { rows, instance } = newCluster()
    const a = instance(signal => words(['kept ', 'text'], 5, signal, true))
    const b = instance(() => words([], 0, new AbortController().signal))
    rows.set('m1', { content: '', status: 'pending' })
    void a.launch(a.reserve('m1', 'o'), job)
    await tick(60)
    const reader = (await b.attach('m1', 0))!
    const started = Date.now()
    // As kill -9 would: no renewals, no final entry, no connection.
    const dead = a as unknown as { timers: ReturnType<typeof setInterval>[], redis: Redis, reader: Redis, subscriber: Redis }
    for (const timer of dead.timers) clearInterval(timer)
    dead.redis.disconnect()
    dead.reader.disconnect()
    dead.subscriber.disconnect()
    const read = await readAll(reader)
    expect(read.text).toBe('kept text')
    expect(read.final).toMatchObject({ status: 'error', error: { code: 'interrupted' } })
    expect(Date.now() - started).toBeLessThan(LEASE_MS * 4)
    expect(rows.get('m1')).toMatchObject({ status: 'error', content: 'kept text', error: { code: 'interrupted' } })
    expect(await admin.zcard(`${prefix}running`)).toBe(0)
  })
})
