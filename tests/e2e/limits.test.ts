import { afterAll, describe, expect, it } from 'vitest'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { usingPostgres } from '../support/postgres'
import type { Client, JsonResponse } from '../support/http'
import { createClient, expectError, waitFinal } from './helpers'

// The abuse limits (docs/abuse-limits.md) on a built server with the demo model. Each server gets
// only the limit under test set low; the others stay far away.
const far = {
  FLUME_RATE_LIMITS: 'on',
  FLUME_LIMIT_ANSWERS_PER_MINUTE: '1000',
  FLUME_LIMIT_ANSWERS_BURST: '1000',
  FLUME_LIMIT_IP_ANSWERS_PER_MINUTE: '1000',
  FLUME_LIMIT_IP_ANSWERS_BURST: '1000',
  FLUME_LIMIT_RUNNING: '1000',
  FLUME_LIMIT_IDENTITIES_PER_HOUR: '1000',
  FLUME_DEMO_DELAY_MS: '1',
}

const servers: FlumeServer[] = []
async function boot(env: Record<string, string>): Promise<FlumeServer> {
  const server = await startFlume({ ...far, ...env })
  servers.push(server)
  return server
}
afterAll(async () => {
  await Promise.all(servers.map(server => server.stop()))
})

/** A chat started with its first question (the one-request start), as the UI does. */
const ask = (client: Client, content = 'hello') => client.json('POST', '/api/chats', { content })

async function chatCount(client: Client): Promise<number> {
  const res = await client.json('GET', '/api/chats')
  expect(res.status, res.text).toBe(200)
  return (res.body as unknown[]).length
}

/** A refusal: 429 with the code, Retry-After in whole seconds, the same in `data.retryAfter`, and when in words. */
function expectRefused(res: JsonResponse, code: 'rate_limited' | 'quota_exceeded'): number {
  expectError(res, 429, code)
  const retryAfter = Number(res.headers.get('retry-after'))
  expect(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${res.headers.get('retry-after')}`).toBe(true)
  expect(res.body.data.retryAfter).toBe(retryAfter)
  expect(res.body.message).toMatch(/Try again in (a second|\d+ (seconds|minutes|hours))\.$/)
  return retryAfter
}

describe('abuse limits', () => {
  it('new answers per identity: the per-minute rate plus the burst, then 429 with nothing stored; others are not affected', async () => {
    const server = await boot({ FLUME_LIMIT_ANSWERS_PER_MINUTE: '2', FLUME_LIMIT_ANSWERS_BURST: '1' })
    const person = createClient(server.url)
    for (let i = 0; i < 3; i++) expect((await ask(person, `question ${i}`)).status).toBe(201)
    const refused = await ask(person, 'one too many')
    const retryAfter = expectRefused(refused, 'rate_limited')
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(refused.body.message).toMatch(/faster than this server allows/)
    expect(await chatCount(person)).toBe(3)

    // Every way of starting an answer counts: a message in an existing chat is refused too, and
    // the chat (made without a question, which is not an answer) keeps no message.
    const chat = await person.json('POST', '/api/chats', {})
    expect(chat.status).toBe(201)
    expectRefused(await person.json('POST', `/api/chats/${chat.body.id}/messages`, { content: 'hi' }), 'rate_limited')
    expect((await person.json('GET', `/api/chats/${chat.body.id}`)).body.messages).toEqual([])

    const other = createClient(server.url)
    expect((await ask(other)).status).toBe(201)
  })

  it('new answers per address: every identity from one address together', async () => {
    const server = await boot({ FLUME_LIMIT_IP_ANSWERS_PER_MINUTE: '2', FLUME_LIMIT_IP_ANSWERS_BURST: '1' })
    for (let i = 0; i < 3; i++) expect((await ask(createClient(server.url))).status).toBe(201)
    const fourth = createClient(server.url)
    const refused = await ask(fourth)
    expectRefused(refused, 'rate_limited')
    expect(refused.body.message).toMatch(/from your network/)
    expect(await chatCount(fourth)).toBe(0)
  })

  it('answers running at once per identity, also for a burst of simultaneous requests; a stop frees a slot', async () => {
    const server = await boot({ FLUME_LIMIT_RUNNING: '2', FLUME_DEMO_DELAY_MS: '200' })
    const person = createClient(server.url)
    await person.json('GET', '/api/chats')
    const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => ask(person, `at once ${i}`)))
    const started = burst.filter(res => res.status === 201)
    expect(started).toHaveLength(2)
    for (const res of burst.filter(res => res.status !== 201)) {
      expectRefused(res, 'rate_limited')
      expect(res.body.message).toMatch(/already have 2 answers being written/)
    }
    expect(await chatCount(person)).toBe(2)

    const [first] = started
    const answer = first!.body.messages[1]
    expect((await person.json('POST', `/api/chats/${first!.body.id}/messages/${answer.id}/stop`)).status).toBe(200)
    await waitFinal(person, first!.body.id, answer.id)
    expect((await ask(person, 'after a stop')).status).toBe(201)
  })

  it('new identities per address: a client without cookies cannot mint visitors at will; known ones go on', async () => {
    const server = await boot({ FLUME_LIMIT_IDENTITIES_PER_HOUR: '3' })
    const known = createClient(server.url)
    expect((await known.json('GET', '/api/chats')).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await createClient(server.url).json('GET', '/api/chats')).status).toBe(200)
    const script = createClient(server.url)
    const refused = await script.json('GET', '/api/chats')
    expectRefused(refused, 'rate_limited')
    expect(refused.body.message).toMatch(/Too many new visitors/)
    expect(script.cookies.size).toBe(0)
    expect((await ask(script)).status).toBe(429)
    // The page too: a 429, not a page with a fresh identity.
    expect((await script.fetch('/')).status).toBe(429)
    expect((await ask(known)).status).toBe(201)
  })

  it('the client address: X-Forwarded-For is believed only through FLUME_TRUSTED_PROXIES, and only its trusted hops', async () => {
    const proxied = await boot({ FLUME_LIMIT_IDENTITIES_PER_HOUR: '1', FLUME_TRUSTED_PROXIES: '1' })
    const from = (xff: string) => createClient(proxied.url).json('GET', '/api/chats', undefined, { 'x-forwarded-for': xff })
    expect((await from('203.0.113.7')).status).toBe(200)
    expect((await from('198.51.100.9')).status).toBe(200)
    expect((await from('203.0.113.7')).status).toBe(429)
    // Entries left of the trusted hop are whatever the client claimed: they do not make it new.
    expect((await from('192.0.2.1, 203.0.113.7')).status).toBe(429)
    // IPv6 counts by its /64.
    expect((await from('2001:db8:1:2::1')).status).toBe(200)
    expect((await from('2001:db8:1:2:ffff::9')).status).toBe(429)
    expect((await from('2001:db8:1:3::1')).status).toBe(200)

    const direct = await boot({ FLUME_LIMIT_IDENTITIES_PER_HOUR: '1' })
    const claim = (xff: string) => createClient(direct.url).json('GET', '/api/chats', undefined, { 'x-forwarded-for': xff })
    expect((await claim('203.0.113.7')).status).toBe(200)
    expect((await claim('198.51.100.9')).status).toBe(429)
  })

  it('the daily token quota, from the usage the answers recorded: quota_exceeded until the next UTC day', async () => {
    const server = await boot({ FLUME_DAILY_TOKENS: '30' })
    const person = createClient(server.url)
    let used = 0
    for (let i = 0; used < 30; i++) {
      expect(i, 'the demo model reports usage').toBeLessThan(20)
      const res = await ask(person, `question ${i}`)
      expect(res.status, res.text).toBe(201)
      const answer = await waitFinal(person, res.body.id, res.body.messages[1].id)
      used += (answer.usage?.promptTokens ?? 0) + (answer.usage?.completionTokens ?? 0)
    }
    const chats = await chatCount(person)
    const refused = await ask(person)
    const retryAfter = expectRefused(refused, 'quota_exceeded')
    const midnight = new Date().setUTCHours(24, 0, 0, 0)
    expect(Math.abs(Date.now() + retryAfter * 1000 - midnight)).toBeLessThan(5_000)
    expect(refused.body.message).toMatch(/today's 30 tokens/)
    expect(await chatCount(person)).toBe(chats)
    // Another person's day is their own.
    expect((await ask(createClient(server.url))).status).toBe(201)
  })

  it('FLUME_RATE_LIMITS=off turns every limit off', async () => {
    const server = await boot({ FLUME_RATE_LIMITS: 'off', FLUME_LIMIT_ANSWERS_PER_MINUTE: '0', FLUME_LIMIT_ANSWERS_BURST: '1', FLUME_LIMIT_IDENTITIES_PER_HOUR: '1' })
    const person = createClient(server.url)
    for (let i = 0; i < 4; i++) expect((await ask(person)).status).toBe(201)
    for (let i = 0; i < 3; i++) expect((await createClient(server.url).json('GET', '/api/chats')).status).toBe(200)
  })
})

// With REDIS_URL the counters are shared: a person cannot get around them by landing on another instance.
const redisUrl = process.env.FLUME_TEST_REDIS_URL
describe.skipIf(!redisUrl || usingPostgres)('abuse limits across instances (Redis)', () => {
  it('answers counted on one instance are counted on the other', async () => {
    const shared = {
      REDIS_URL: redisUrl!,
      FLUME_REDIS_PREFIX: `flume-limits-${process.pid}-${Date.now()}:`,
      FLUME_SESSION_SECRET: 'limits-test-secret-limits-test-secret-0123',
      FLUME_LIMIT_ANSWERS_PER_MINUTE: '2',
      FLUME_LIMIT_ANSWERS_BURST: '1',
    }
    const a = await boot(shared)
    const b = await boot(shared)
    const onA = createClient(a.url)
    for (let i = 0; i < 3; i++) expect((await ask(onA)).status).toBe(201)
    const onB = createClient(b.url)
    for (const [name, value] of onA.cookies) onB.cookies.set(name, value)
    expectRefused(await ask(onB), 'rate_limited')
  })
})
