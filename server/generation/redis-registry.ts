import { randomBytes } from 'node:crypto'
import Redis from 'ioredis'
import { MemoryRunRegistry } from './memory-registry'
import { INTERRUPTED, type GenerationIO, type GenerationJob, type RunRegistry } from './registry'
import type { StreamPosition } from '#shared/stream-id'
import { Run, storedText, type AnswerText, type RunFinal, type RunReader, type RunSeed } from './run'

export interface RedisRunRegistryOptions {
  url: string
  /** Starts every key and channel (FLUME_REDIS_PREFIX). */
  prefix: string
  /** An instance's claim on an answer it writes lasts this long unless renewed (FLUME_LEASE_MS). */
  leaseMs: number
  /** How long a final answer's stream stays for readers still catching up. */
  finishedTtlMs?: number
  /** How long a stop waits for the writing instance to store the stopped answer. */
  stopTimeoutMs?: number
}

/**
 * The Lua scripts: each reads and writes one answer's keys atomically, so that "who writes this
 * answer" has one answer at any moment. KEYS are the lease, the stream and the set of running
 * answers; a lease's value is the token of its holder.
 */
const SCRIPTS = {
  /** Takes the lease if nobody holds it and starts the answer's stream anew with its text so far. */
  flumeTake: `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2])
redis.call('XADD', KEYS[2], '*', 'o', ARGV[3], 't', ARGV[4], 'ro', ARGV[8], 'r', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
return 1`,
  /** Appends text and reasoning, only while the lease is the caller's (a writer that lost it must not write). */
  flumeAppend: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], '*', 'o', ARGV[2], 't', ARGV[3], 'ro', ARGV[4], 'r', ARGV[5])
return 1`,
  /**
   * The last entry: the final state (`f`, once it is stored) or an abandoned run (`a`: it was not
   * the caller's to write). Only by the lease's holder, or by anyone once the lease is gone (a
   * writer that outlived its lease still ends what it wrote); never over another holder's answer.
   * Then the stream expires, and the lease and the running entry go.
   */
  flumeEnd: `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local fields = {'o', ARGV[3]}
  if ARGV[4] ~= '' then fields[#fields + 1] = 't'; fields[#fields + 1] = ARGV[4] end
  if ARGV[8] ~= '' then
    fields[#fields + 1] = 'ro'; fields[#fields + 1] = ARGV[7]
    fields[#fields + 1] = 'r'; fields[#fields + 1] = ARGV[8]
  end
  if ARGV[5] ~= '' then fields[#fields + 1] = 'f'; fields[#fields + 1] = ARGV[5]
  else fields[#fields + 1] = 'a'; fields[#fields + 1] = '1' end
  redis.call('XADD', KEYS[2], '*', unpack(fields))
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
if holder then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[3], ARGV[2])
return 1`,
  /** Renews the caller's leases (and keeps their streams); 0 for each lease it no longer holds. */
  flumeRenew: `
local n = #KEYS / 2
local out = {}
for i = 1, n do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('PEXPIRE', KEYS[n + i], ARGV[3])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out`,
  /** Running answers whose lease is gone: their writer died. */
  flumeOrphans: `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. 'lease:' .. id) == 0 then out[#out + 1] = id end
end
return out`,
} as const

type ScriptName = keyof typeof SCRIPTS
type StreamEntry = [id: string, fields: string[]]

/** A run written by another instance, followed here from its stream so local readers can read it. */
interface Mirror {
  run: Run
  /** Id of the last stream entry applied. */
  lastId: string
  /** Consecutive checks that found no lease while no final entry had come. */
  leaseMissing: number
}

/** A live stream stays this long unless its writer renews it: a crash of the whole cluster leaves nothing forever. */
const LIVE_STREAM_TTL_MS = 15 * 60_000
/** Entries per XREAD: the one blocking read serves every followed answer. */
const READ_COUNT = 512

/**
 * Runs shared through Redis by several instances (REDIS_URL; docs/instances.md).
 *
 * - The instance that writes an answer holds its lease (`lease:<id>`, SET NX, renewed every third
 *   of FLUME_LEASE_MS); it is taken before the database claim, so two instances never both write.
 * - Its text goes to a Redis Stream (`run:<id>`): entries carry the text and the offset after it
 *   (and the reasoning and its offset: docs/reasoning.md),
 *   coalesced per event-loop turn; the first is the text the answer starts from (Continue), the last
 *   the final state, added once that is stored. Then the stream expires and the lease goes.
 * - Readers on the writing instance read its Run in memory, as with one process. Elsewhere a reader
 *   gets a mirror Run fed from the stream (XRANGE to catch up, then one blocking XREAD per
 *   instance for every followed answer), so the stream route is the same everywhere.
 * - Stop is published to every instance; the writer aborts its upstream request, the caller waits
 *   for the final entry. An answer whose lease ran out (its instance died) is settled by the first
 *   instance to take its lease: `interrupted`, with the most text known, final entry included.
 */
export class RedisRunRegistry implements RunRegistry {
  readonly instanceId = randomBytes(8).toString('hex')
  private readonly local: MemoryRunRegistry
  private readonly redis: Redis
  /** Blocking reads only (a blocked connection can do nothing else). */
  private readonly reader: Redis
  private readonly subscriber: Redis
  private readonly log: Pick<Console, 'warn' | 'error'>
  private readonly prefix: string
  private readonly leaseMs: number
  private readonly finishedTtlMs: number
  private readonly stopTimeoutMs: number

  /** Runs reserved here, whether or not they got their lease yet. */
  private readonly own = new Map<string, Run>()
  /** The lease taking of each run reserved here: true once it holds it. */
  private readonly taking = new Map<string, Promise<boolean>>()
  /** Runs whose lease this instance holds. */
  private readonly leased = new Map<string, Run>()
  /** Offsets up to which each leased run's text and reasoning are in its stream. */
  private readonly published = new Map<string, StreamPosition>()
  private readonly unpublished = new Set<Run>()
  private publishing = false

  private readonly mirrors = new Map<string, Mirror>()
  private readonly following = new Map<string, Promise<Mirror | undefined>>()
  private loop?: Promise<void>
  private loopIdle?: () => void
  /** Bumped when a mirror is added; the blocking read in flight was sent at `readingVersion`. */
  private version = 0
  private readingVersion = -1
  private readerId?: number

  private readonly timers: ReturnType<typeof setInterval>[] = []
  private closed = false

  constructor(private readonly io: GenerationIO, options: RedisRunRegistryOptions) {
    this.log = io.log ?? console
    this.prefix = options.prefix
    this.leaseMs = options.leaseMs
    this.finishedTtlMs = options.finishedTtlMs ?? 60_000
    this.stopTimeoutMs = options.stopTimeoutMs ?? options.leaseMs * 3 + 5_000
    const connect = () => {
      const client = new Redis(options.url, { maxRetriesPerRequest: 3, enableAutoPipelining: true })
      client.on('error', error => this.log.warn('[flume] redis:', (error as Error).message))
      return client
    }
    this.redis = connect()
    for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { lua })
    this.reader = new Redis(options.url, { maxRetriesPerRequest: null })
    this.reader.on('error', error => this.log.warn('[flume] redis (reader):', (error as Error).message))
    this.reader.on('close', () => (this.readerId = undefined))
    this.subscriber = connect()
    void this.subscriber.subscribe(this.key('control')).catch(error => this.log.error('[flume] redis subscribe failed', error))
    this.subscriber.on('message', (_channel: string, message: string) => this.onControl(message))

    this.local = new MemoryRunRegistry({
      ...io,
      claim: id => this.claim(id),
      finish: (id, final) => this.finish(id, final),
    })
    const every = (ms: number, fn: () => Promise<void>) => {
      const timer = setInterval(() => void fn().catch(error => this.log.warn('[flume] redis upkeep failed:', (error as Error).message)), ms)
      timer.unref?.()
      this.timers.push(timer)
    }
    every(Math.max(Math.floor(this.leaseMs / 3), 50), () => this.renew())
    every(Math.max(Math.floor(this.leaseMs / 2), 50), () => this.check())
  }

  get size() {
    return this.local.size
  }

  /**
   * The lease is taken here, before the message is stored: once another instance can see the
   * answer `pending` in the database, it also sees who writes it (and follows it, not adopts it).
   */
  reserve(messageId: string, owner: string, seed?: RunSeed): Run {
    const run = this.local.reserve(messageId, owner, seed)
    this.own.set(messageId, run)
    run.onAppend = r => this.schedulePublish(r)
    const taking = this.take(run)
    // Awaited by held() or claim(); a failure shows there.
    taking.catch(() => {})
    this.taking.set(messageId, taking)
    return run
  }

  held(messageId: string): Promise<boolean> {
    return this.taking.get(messageId) ?? Promise.resolve(false)
  }

  release(messageId: string) {
    const run = this.own.get(messageId)
    const taking = this.taking.get(messageId)
    this.local.release(messageId)
    this.own.delete(messageId)
    this.taking.delete(messageId)
    if (run && taking) void taking.then(took => (took ? this.giveUp(run) : undefined), () => {})
  }

  launch(run: Run, job: GenerationJob): Promise<RunFinal> {
    return this.local.launch(run, job).finally(() => {
      if (this.own.get(run.messageId) === run) {
        this.own.delete(run.messageId)
        this.taking.delete(run.messageId)
      }
      if (this.leased.get(run.messageId) === run) {
        // Ended without storing a final state (its final write failed): its lease just runs out.
        this.leased.delete(run.messageId)
        this.published.delete(run.messageId)
      }
    })
  }

  async isRunning(messageId: string): Promise<boolean> {
    return await this.local.isRunning(messageId) || (await this.redis.exists(this.key('lease', messageId))) === 1
  }

  async attach(messageId: string, offset: number, reasoningOffset?: number): Promise<RunReader | undefined> {
    const here = await this.local.attach(messageId, offset, reasoningOffset)
    if (here) return here
    const mirror = await this.follow(messageId)
    // Ended already: the database has it, final frames and the 204 rule included.
    if (!mirror || mirror.run.final || mirror.run.abandoned) return undefined
    return mirror.run.reader(offset, reasoningOffset)
  }

  async stop(messageId: string): Promise<boolean> {
    if (await this.local.stop(messageId)) return true
    const mirror = await this.follow(messageId)
    if (!mirror) return false
    await this.redis.publish(this.key('control'), JSON.stringify({ stop: messageId }))
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      mirror.run.finished,
      new Promise(resolve => (timer = setTimeout(resolve, this.stopTimeoutMs))),
    ])
    clearTimeout(timer)
    return true
  }

  async settle(messageId: string, final: RunFinal): Promise<boolean> {
    if (this.own.has(messageId)) return false
    const lease = this.key('lease', messageId)
    const token = `${this.instanceId}/settle/${randomBytes(4).toString('hex')}`
    // Holding the lease while settling: nobody starts writing the answer meanwhile.
    if (await this.redis.set(lease, token, 'PX', this.leaseMs, 'NX') !== 'OK') return false
    let text: AnswerText | undefined
    let ending = final
    try {
      const [stored, entries] = await Promise.all([
        this.io.load(messageId),
        this.redis.xrange(this.key('run', messageId), '-', '+') as Promise<StreamEntry[]>,
      ])
      const streamed = new Run(messageId, '')
      for (const [, fields] of entries) applyEntry(streamed, fields)
      if (stored?.status === 'pending' || stored?.status === 'streaming') {
        // The most text known: the stream's, unless the database got further before the writer died.
        const saved = storedText(stored)
        const reasoning = (stored.reasoning?.length ?? 0) > streamed.reasoningLength ? stored.reasoning : streamed.reasoning()
        text = {
          ...saved,
          content: stored.content.length > streamed.length ? stored.content : streamed.text(),
          ...(reasoning ? { reasoning } : {}),
        }
        if (stored.usage && !final.usage) ending = { ...final, usage: stored.usage }
        await this.io.finish(messageId, { ...text, ...ending })
      }
      else if (stored) {
        text = stored
        ending = { status: stored.status as RunFinal['status'] }
      }
      else {
        text = streamed.snapshot()
      }
      const extra = beyond(streamed.text(), text.content)
      const extraReasoning = beyond(streamed.reasoning(), text.reasoning ?? '')
      if (streamed.final) {
        await this.dropLease(messageId, token)
      }
      else {
        await this.script('flumeEnd', this.keysOf(messageId), [token, messageId, streamed.length + extra.length, extra, JSON.stringify(ending), this.finishedTtlMs, streamed.reasoningLength + extraReasoning.length, extraReasoning])
      }
    }
    catch (error) {
      await this.dropLease(messageId, token).catch(() => {})
      throw error
    }
    return true
  }

  async interruptAll() {
    await this.local.interruptAll()
    // Readers of answers written elsewhere reconnect (EventSource does) to an instance that stays.
    for (const [id, mirror] of this.mirrors) {
      mirror.run.abandon()
      this.mirrors.delete(id)
    }
  }

  async ping() {
    await this.redis.ping()
  }

  async close() {
    if (this.closed) return
    this.closed = true
    for (const timer of this.timers) clearInterval(timer)
    this.loopIdle?.()
    this.reader.disconnect()
    await Promise.allSettled([this.subscriber.quit(), this.redis.quit()])
    await this.loop
  }

  // --- Writing an answer here -----------------------------------------------------------------

  /** Takes the lease and starts the answer's stream anew with its text so far; false if another instance holds it. */
  private async take(run: Run): Promise<boolean> {
    const seed = run.text()
    const reasoning = run.reasoning()
    const took = await this.script('flumeTake', this.keysOf(run.messageId), [this.instanceId, this.leaseMs, seed.length, seed, run.messageId, Date.now(), LIVE_STREAM_TTL_MS, reasoning.length, reasoning])
    if (took !== 1) return false
    this.leased.set(run.messageId, run)
    this.published.set(run.messageId, { answer: seed.length, reasoning: reasoning.length })
    return true
  }

  /** The lease first, then the database: a failed lease or claim abandons the run (generate.ts). */
  private async claim(messageId: string): Promise<boolean> {
    const run = this.own.get(messageId)
    if (!run || !await this.taking.get(messageId)?.catch(() => false)) return false
    if (await this.io.claim(messageId)) return true
    // Not pending any more (stopped, recovered or deleted meanwhile): let followers go too.
    await this.giveUp(run)
    return false
  }

  /** Lets go of a lease taken for a run that is not to be written; its followers reconnect. */
  private async giveUp(run: Run) {
    const { messageId } = run
    if (this.leased.get(messageId) !== run) return
    const from = this.published.get(messageId)?.answer ?? 0
    this.leased.delete(messageId)
    this.published.delete(messageId)
    await this.script('flumeEnd', this.keysOf(messageId), [this.instanceId, messageId, from, '', '', this.finishedTtlMs, 0, ''])
      .catch(error => this.log.warn(`[flume] could not let go of ${messageId}:`, (error as Error).message))
  }

  /** The final state goes to the database, then to the stream for readers on other instances. */
  private async finish(messageId: string, final: RunFinal & AnswerText) {
    await this.io.finish(messageId, final)
    const from = this.published.get(messageId)
    this.leased.delete(messageId)
    this.published.delete(messageId)
    if (from === undefined) return
    const { content, reasoning = '', reasoningMs: _, ...state } = final
    try {
      await this.script('flumeEnd', this.keysOf(messageId), [this.instanceId, messageId, content.length, content.slice(from.answer), JSON.stringify(state), this.finishedTtlMs, reasoning.length, reasoning.slice(from.reasoning)])
    }
    catch (error) {
      // Stored all the same; readers elsewhere end when the lease runs out (check()).
      this.log.error(`[flume] could not publish the end of ${messageId}`, error)
    }
  }

  private schedulePublish(run: Run) {
    this.unpublished.add(run)
    if (this.publishing) return
    this.publishing = true
    // Every append of this event-loop turn in one entry per run.
    setImmediate(() => this.publish())
  }

  private publish() {
    this.publishing = false
    const runs = [...this.unpublished]
    this.unpublished.clear()
    for (const run of runs) {
      const from = this.published.get(run.messageId)
      if (from === undefined || run.final || this.leased.get(run.messageId) !== run) continue
      if (run.length <= from.answer && run.reasoningLength <= from.reasoning) continue
      this.published.set(run.messageId, { answer: run.length, reasoning: run.reasoningLength })
      this.script('flumeAppend', [this.key('lease', run.messageId), this.key('run', run.messageId)], [this.instanceId, run.length, run.textFrom(from.answer), run.reasoningLength, run.reasoningFrom(from.reasoning)])
        .catch(error => this.log.warn(`[flume] could not publish text of ${run.messageId}:`, (error as Error).message))
    }
  }

  /** Renews the leases of the runs written here; a run whose lease was lost stops as `interrupted`. */
  private async renew() {
    const runs = [...this.leased.values()]
    if (!runs.length) return
    const ids = runs.map(run => run.messageId)
    const kept = await this.script('flumeRenew', [...ids.map(id => this.key('lease', id)), ...ids.map(id => this.key('run', id))], [this.instanceId, this.leaseMs, LIVE_STREAM_TTL_MS]) as number[]
    runs.forEach((run, i) => {
      if (kept[i] === 1 || this.leased.get(run.messageId) !== run) return
      // Another instance may already have ended it: an answer has one writer or none.
      this.log.warn(`[flume] lost the lease of answer ${run.messageId}; it ends as interrupted`)
      this.leased.delete(run.messageId)
      run.interrupt()
    })
  }

  private onControl(message: string) {
    try {
      const { stop } = JSON.parse(message) as { stop?: string }
      if (stop && this.own.has(stop)) void this.local.stop(stop)
    }
    catch (error) {
      this.log.warn('[flume] bad control message', error)
    }
  }

  // --- Following an answer written elsewhere -------------------------------------------------

  private follow(messageId: string): Promise<Mirror | undefined> {
    const mirror = this.mirrors.get(messageId)
    if (mirror) return Promise.resolve(mirror)
    let pending = this.following.get(messageId)
    if (!pending) {
      pending = this.startMirror(messageId).finally(() => this.following.delete(messageId))
      this.following.set(messageId, pending)
    }
    return pending
  }

  private async startMirror(messageId: string): Promise<Mirror | undefined> {
    const replies = await this.redis.multi()
      .get(this.key('lease', messageId))
      .xrange(this.key('run', messageId), '-', '+')
      .exec()
    if (!replies) return undefined
    const [[leaseError, holder], [streamError, entries]] = replies as [[Error | null, string | null], [Error | null, StreamEntry[]]]
    if (leaseError || streamError) throw leaseError ?? streamError
    // No lease: nobody writes it; the database has it as it is.
    if (!holder) return undefined
    const mirror: Mirror = { run: new Run(messageId, ''), lastId: '0-0', leaseMissing: 0 }
    this.apply(mirror, entries)
    if (mirror.run.final || mirror.run.abandoned) return mirror
    this.mirrors.set(messageId, mirror)
    this.version++
    this.wakeReader()
    return mirror
  }

  private apply(mirror: Mirror, entries: StreamEntry[]) {
    for (const [id, fields] of entries) {
      mirror.lastId = id
      if (!applyEntry(mirror.run, fields)) {
        this.log.warn(`[flume] answer ${mirror.run.messageId}: its stream has a gap; its readers reconnect`)
        mirror.run.abandon()
      }
      if (mirror.run.final || mirror.run.abandoned) {
        if (this.mirrors.get(mirror.run.messageId) === mirror) this.mirrors.delete(mirror.run.messageId)
        return
      }
    }
  }

  /** One blocking XREAD for every answer followed here, on its own connection. */
  private wakeReader() {
    if (this.closed) return
    if (this.loopIdle) {
      const idle = this.loopIdle
      this.loopIdle = undefined
      idle()
    }
    this.loop ??= this.readLoop().finally(() => (this.loop = undefined))
    void this.unblock()
  }

  /**
   * Makes the blocking read start again with the new mirror's stream. CLIENT UNBLOCK may come
   * before the read is blocking (another connection): retried until the read in flight is newer.
   */
  private async unblock() {
    for (let attempt = 0; attempt < 100 && !this.closed; attempt++) {
      if (this.readingVersion >= this.version || this.readingVersion === -1) return
      if (this.readerId !== undefined && await this.redis.client('UNBLOCK', this.readerId) === 1) return
      await new Promise(resolve => setTimeout(resolve, 2))
    }
  }

  private async readLoop() {
    while (!this.closed) {
      const mirrors = [...this.mirrors.values()]
      if (!mirrors.length) {
        await new Promise<void>(resolve => (this.loopIdle = resolve))
        continue
      }
      try {
        this.readerId ??= await this.reader.client('ID') as number
        this.readingVersion = this.version
        const keys = mirrors.map(m => this.key('run', m.run.messageId))
        // The typed call, not call('XREAD'): it gives [key, entries] pairs under RESP2 and RESP3 alike.
        const replies = await this.reader.xread('COUNT', READ_COUNT, 'BLOCK', 10_000, 'STREAMS', ...keys, ...mirrors.map(m => m.lastId)) as [string, StreamEntry[]][] | null
        this.readingVersion = -1
        for (const [key, entries] of replies ?? []) {
          const mirror = this.mirrors.get(key.slice(this.key('run').length))
          if (mirror) this.apply(mirror, entries)
        }
      }
      catch (error) {
        this.readingVersion = -1
        if (this.closed) return
        this.log.warn('[flume] redis read failed; retrying:', (error as Error).message)
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    }
  }

  /**
   * Upkeep, every half lease: answers whose lease ran out (their instance died) are settled as
   * `interrupted`, by whichever instance gets there first; a followed answer whose lease is gone
   * for good without a final entry (its stream was lost) lets its readers go.
   */
  private async check() {
    const orphans = await this.script('flumeOrphans', [this.key('running')], [this.prefix]) as string[]
    for (const id of orphans) {
      if (this.own.has(id)) continue
      try {
        if (await this.settle(id, INTERRUPTED)) this.log.warn(`[flume] answer ${id} ended as interrupted: the instance writing it went away`)
      }
      catch (error) {
        this.log.warn(`[flume] could not settle answer ${id}:`, (error as Error).message)
      }
    }
    const mirrors = [...this.mirrors.values()]
    if (!mirrors.length) return
    const held = await Promise.all(mirrors.map(m => this.redis.exists(this.key('lease', m.run.messageId))))
    for (const [i, mirror] of mirrors.entries()) {
      mirror.leaseMissing = held[i] ? 0 : mirror.leaseMissing + 1
      if (mirror.leaseMissing < 3) continue
      this.apply(mirror, await this.redis.xrange(this.key('run', mirror.run.messageId), `(${mirror.lastId}`, '+') as StreamEntry[])
      if (!mirror.run.final && this.mirrors.get(mirror.run.messageId) === mirror) {
        this.mirrors.delete(mirror.run.messageId)
        mirror.run.abandon()
      }
    }
  }

  // --- Keys ------------------------------------------------------------------------------------

  private key(kind: 'lease' | 'run' | 'running' | 'control', messageId = ''): string {
    return kind === 'running' || kind === 'control' ? `${this.prefix}${kind}` : `${this.prefix}${kind}:${messageId}`
  }

  private keysOf(messageId: string): string[] {
    return [this.key('lease', messageId), this.key('run', messageId), this.key('running')]
  }

  private async dropLease(messageId: string, token: string) {
    // Only our own settling lease; a writer's is never touched here.
    if (await this.redis.get(this.key('lease', messageId)) === token) await this.redis.del(this.key('lease', messageId))
  }

  private script(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    const run = (this.redis as unknown as Record<ScriptName, (...params: (string | number)[]) => Promise<unknown>>)[name]
    return run.call(this.redis, keys.length, ...keys, ...args)
  }
}

/**
 * Applies one stream entry to a run: reasoning (`r`) that ends at offset `ro`, text (`t`) that
 * ends at offset `o`, then the final state (`f`) or an abandoned run (`a`). What it already has is
 * skipped; false on a gap.
 */
function applyEntry(run: Run, fields: string[]): boolean {
  let offset = 0
  let text = ''
  let reasoningOffset = 0
  let reasoning = ''
  let final: RunFinal | undefined
  let abandoned = false
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!
    switch (fields[i]) {
      case 'o': offset = Number(value)
        break
      case 't': text = value
        break
      case 'ro': reasoningOffset = Number(value)
        break
      case 'r': reasoning = value
        break
      case 'f': final = JSON.parse(value) as RunFinal
        break
      case 'a': abandoned = true
    }
  }
  const thoughtFrom = reasoningOffset - reasoning.length
  const start = offset - text.length
  if (start > run.length || thoughtFrom > run.reasoningLength) return false
  if (reasoningOffset > run.reasoningLength) run.appendReasoning(reasoning.slice(run.reasoningLength - thoughtFrom))
  if (offset > run.length) run.append(text.slice(run.length - start))
  if (final) run.end(final)
  else if (abandoned) run.abandon()
  return true
}

/** What `whole` has after `known`, when it goes on from it; '' otherwise. */
function beyond(known: string, whole: string): string {
  return whole.length > known.length && whole.startsWith(known) ? whole.slice(known.length) : ''
}
