import type { H3Event } from 'h3'
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from './rate-limiter'
import { platform } from '#flume/platform'
import type { LimitsConfig } from '../utils/config'

/**
 * Abuse limits for a public instance (docs/abuse-limits.md): how many answers a person and an
 * address may start, how many may run at once, how many new identities an address may make, and
 * an optional daily token quota. Counters come from rate-limiter-flexible, in this process's
 * memory or, with REDIS_URL, in Redis so that they hold across instances; running answers and
 * tokens are read from the database, which every instance shares. A refused request is 429 with
 * `Retry-After` and a message saying when to try again, before anything is stored.
 */

/** The burst allowance of the answer limits refills over this window. */
const BURST_WINDOW_S = 10 * 60
/** When an identity has as many answers running as it may, try again after about this long. */
const RUNNING_RETRY_AFTER_S = 5

interface Limiters {
  identityAnswers: BurstyRateLimiter
  ipAnswers: BurstyRateLimiter
  identities: RateLimiterAbstract
}

let limiters: Limiters | undefined

function useLimiters(config: LimitsConfig): Limiters {
  if (limiters) return limiters
  const redis = platform.limiterStore(useFlumeConfig())
  const prefix = `${useFlumeConfig().redisPrefix}limit:`
  const counter = (name: string, points: number, duration: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ keyPrefix: name, points, duration })
    // A Redis that does not answer must not refuse everyone (nor fail the request): this
    // process's own counters stand in until it is back.
    return redis
      ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}${name}`, points, duration, insuranceLimiter: memory })
      : memory
  }
  const answers = (name: string, perMinute: number, burst: number) =>
    new BurstyRateLimiter(counter(name, perMinute, 60), counter(`${name}:burst`, burst, BURST_WINDOW_S))
  return (limiters = {
    identityAnswers: answers('answers', config.answersPerMinute, config.answersBurst),
    ipAnswers: answers('ip-answers', config.ipAnswersPerMinute, config.ipAnswersBurst),
    identities: counter('identities', config.identitiesPerIpPerHour, 60 * 60),
  })
}

/** Answers being started right now in this process, per identity: counted before their rows exist. */
const starting = new Map<string, number>()

/**
 * Lets `owner` start one more answer, or throws 429 (`quota_exceeded`, `rate_limited`). The
 * returned function must be called once the answer is stored (or was not): until then it counts
 * as running, so a burst of simultaneous requests cannot all pass the running check.
 */
export async function admitAnswer(event: H3Event, owner: string): Promise<() => void> {
  const config = useFlumeConfig().limits
  if (!config.enabled) return () => {}
  const quota = config.dailyTokens
  if (quota > 0) {
    const dayStart = new Date().setUTCHours(0, 0, 0, 0)
    if (await usageStore.tokensSince(owner, dayStart) >= quota) {
      const retryAfter = Math.ceil((dayStart + 86_400_000 - Date.now()) / 1000)
      throw refusal(event, 'quota_exceeded', retryAfter, `You have used today's ${quota.toLocaleString('en')} tokens.`)
    }
  }
  const pending = starting.get(owner) ?? 0
  starting.set(owner, pending + 1)
  let released = false
  const release = () => {
    if (released) return
    released = true
    const left = (starting.get(owner) ?? 1) - 1
    if (left > 0) starting.set(owner, left)
    else starting.delete(owner)
  }
  try {
    if (await usageStore.runningCount(owner) + pending >= config.runningPerIdentity) {
      throw refusal(event, 'rate_limited', RUNNING_RETRY_AFTER_S,
        `You already have ${config.runningPerIdentity} answers being written. Wait for one to finish or stop it.`)
    }
    const { ipAnswers, identityAnswers } = useLimiters(config)
    await take(event, ipAnswers, clientAddress(event, config), 'Too many new answers from your network.')
    await take(event, identityAnswers, owner, 'You are sending messages faster than this server allows.')
  }
  catch (error) {
    release()
    throw error
  }
  return release
}

/** Lets the client at this request's address make a new identity (a first visit without a session cookie), or throws 429. */
export async function admitNewIdentity(event: H3Event): Promise<void> {
  const config = useFlumeConfig().limits
  if (!config.enabled) return
  await take(event, useLimiters(config).identities, clientAddress(event, config), 'Too many new visitors from your network.')
}

async function take(event: H3Event, limiter: RateLimiterAbstract | BurstyRateLimiter, key: string, reason: string): Promise<void> {
  try {
    await limiter.consume(key)
  }
  catch (refused) {
    if (!(refused instanceof RateLimiterRes)) throw refused
    throw refusal(event, 'rate_limited', Math.max(1, Math.ceil(refused.msBeforeNext / 1000)), reason)
  }
}

function refusal(event: H3Event, code: 'rate_limited' | 'quota_exceeded', retryAfterS: number, reason: string) {
  setResponseHeader(event, 'retry-after', retryAfterS)
  // The wait in `data` too, for clients that do not read headers.
  return httpError(429, code, `${reason} Try again ${whenInWords(retryAfterS)}.`, { retryAfter: retryAfterS })
}

/** "in 40 seconds", "in 3 minutes", "in 2 hours": when to try again, as a person reads it. */
export function whenInWords(seconds: number): string {
  if (seconds <= 1) return 'in a second'
  if (seconds < 90) return `in ${seconds} seconds`
  const minutes = Math.round(seconds / 60)
  if (minutes < 90) return `in ${minutes} minutes`
  return `in ${Math.round(minutes / 60)} hours`
}

/**
 * Who is asking, by network address: the socket's peer, or with FLUME_TRUSTED_PROXIES = n the
 * address the n-th proxy from us saw (each proxy appends its peer to X-Forwarded-For, so entries
 * further left are whatever the client claimed). IPv6 addresses count by their /64, the block one
 * home or host is given.
 */
export function clientAddress(event: H3Event, config: LimitsConfig = useFlumeConfig().limits): string {
  const fromPlatform = platform.clientAddress(event)
  if (fromPlatform) return addressKey(fromPlatform)
  if (config.trustedProxies > 0) {
    const hops = (getRequestHeader(event, 'x-forwarded-for') ?? '').split(',').map(entry => entry.trim()).filter(Boolean)
    const seen = hops[Math.max(hops.length - config.trustedProxies, 0)]
    if (seen) return addressKey(seen)
  }
  return addressKey(event.node?.req?.socket?.remoteAddress ?? 'unknown')
}

/** The key an address counts under: IPv4 as it is, IPv6 by its /64 prefix (IPv4-mapped ones as IPv4). */
export function addressKey(raw: string): string {
  const address = raw.trim().replace(/^\[(.*)\]$/, '$1')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(address)) return address
  if (!/^[\da-f:.]+(?:%.*)?$/i.test(address) || !address.includes(':')) return address.slice(0, 64)
  const [head = '', tail] = address.replace(/%.*$/, '').split('::') as [string, string | undefined]
  const groups = (part: string) => part ? part.split(':') : []
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  return `${all.slice(0, 4).map(group => Number.parseInt(group, 16).toString(16)).join(':')}::/64`
}
