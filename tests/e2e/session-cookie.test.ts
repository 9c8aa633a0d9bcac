import { createHmac } from 'node:crypto'
import { sealSession } from 'h3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Chat } from '../../shared/schemas'
import { createClient, newChat, startWithFake, type Env } from './helpers'

const SECRET = 'a-test-secret-that-is-long-enough-1234567890'
const DAY_S = 24 * 60 * 60

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_SESSION_SECRET: SECRET })
})
afterAll(async () => {
  await env?.stop()
})

/** A cookie in the signed format, issued `ageS` seconds ago. */
function signed(owner: string, ageS: number): string {
  const payload = `v1.${owner}.${Math.floor(Date.now() / 1000 - ageS).toString(36)}`
  return `${payload}.${createHmac('sha256', SECRET).update(payload).digest('base64url')}`
}

const ownerOf = (cookie: string) => cookie.split('.')[1]

async function chatIds(cookie: string): Promise<{ ids: string[], setCookie?: string }> {
  const client = createClient(env.flume.url)
  client.cookies.set('flume_session', cookie)
  const res = await client.json<Chat[]>('GET', '/api/chats')
  expect(res.status).toBe(200)
  return { ids: res.body.map(c => c.id), setCookie: client.cookies.get('flume_session') === cookie ? undefined : client.cookies.get('flume_session') }
}

describe('the session cookie over time', () => {
  it('is renewed on use once it is a day old, keeping the same identity, so a daily user never loses their chats', async () => {
    const client = createClient(env.flume.url)
    const chat = await newChat(client, 'kept')
    const owner = ownerOf(client.cookies.get('flume_session')!)
    // Fresh: no new cookie on every request.
    expect((await chatIds(signed(owner!, 60))).setCookie).toBeUndefined()
    // Older than a day: the same identity, a new cookie with a new expiry.
    const { ids, setCookie } = await chatIds(signed(owner!, 2 * DAY_S))
    expect(ids).toEqual([chat.id])
    expect(setCookie).toBeDefined()
    expect(ownerOf(setCookie!)).toBe(owner)
    expect((await chatIds(setCookie!)).ids).toEqual([chat.id])
  })

  it('past a year it is a new identity (the browser would have dropped it anyway)', async () => {
    const client = createClient(env.flume.url)
    const chat = await newChat(client, 'old')
    const owner = ownerOf(client.cookies.get('flume_session')!)
    const { ids, setCookie } = await chatIds(signed(owner!, 366 * DAY_S))
    expect(ids).not.toContain(chat.id)
    expect(ownerOf(setCookie!)).not.toBe(owner)
  })

  it('a sealed cookie from before the signed format keeps its chats and is replaced by a signed one', async () => {
    const owner = 'legacyOwner_0123456789'
    const event = { context: { sessions: { flume_session: { id: owner, createdAt: Date.now(), data: {} } } } }
    const sealed = await sealSession(event as never, { name: 'flume_session', password: SECRET, maxAge: 365 * DAY_S })
    const first = createClient(env.flume.url)
    first.cookies.set('flume_session', sealed)
    const chat = await newChat(first, 'from the old cookie')
    const replaced = first.cookies.get('flume_session')!
    expect(replaced).not.toBe(sealed)
    expect(ownerOf(replaced)).toBe(owner)
    expect((await chatIds(replaced)).ids).toEqual([chat.id])
    // The old cookie still works (another tab may still send it).
    expect((await chatIds(sealed)).ids).toEqual([chat.id])
  })
})
