import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Chat } from '../../shared/schemas'
import { createGate } from '../support/fake-openai'
import { openStream } from '../support/http'
import { chatAndSend, createClient, expectError, getChat, newChat, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

describe('the session cookie', () => {
  it('the first request gets an HttpOnly, SameSite=Lax session cookie', async () => {
    const client = createClient(env.flume.url)
    const res = await client.json('GET', '/api/chats')
    expect(res.status).toBe(200)
    const cookie = client.setCookieHeaders.find(h => h.startsWith('flume_session='))
    expect(cookie, client.setCookieHeaders.join('\n')).toBeDefined()
    const attrs = cookie!.split(';').map(s => s.trim().toLowerCase())
    expect(attrs).toContain('httponly')
    expect(attrs).toContain('samesite=lax')
    expect(client.cookies.get('flume_session')!.length).toBeGreaterThan(10)
  })

  it('keeps the identity across requests (no new cookie each time)', async () => {
    const client = createClient(env.flume.url)
    const chat = await newChat(client, 'mine')
    const value = client.cookies.get('flume_session')
    const list = await client.json<Chat[]>('GET', '/api/chats')
    expect(list.body.map(c => c.id)).toEqual([chat.id])
    expect(client.cookies.get('flume_session')).toBe(value)
  })

  it('a forged or tampered cookie is a new identity, not the owner', async () => {
    const owner = createClient(env.flume.url)
    const chat = await newChat(owner, 'private')
    const value = owner.cookies.get('flume_session')!
    const tampered = value.slice(0, -2) + (value.endsWith('AA') ? 'BB' : 'AA')
    for (const forged of [tampered, 'admin', `${value}x`, '']) {
      const intruder = createClient(env.flume.url)
      intruder.cookies.set('flume_session', forged)
      const res = await intruder.json('GET', `/api/chats/${chat.id}`)
      expectError(res, 404, 'not_found')
      const list = await intruder.json<Chat[]>('GET', '/api/chats')
      expect(list.status).toBe(200)
      expect(list.body.map(c => c.id)).not.toContain(chat.id)
    }
  })
})

describe('chats belong to the identity that made them', () => {
  it('another identity gets 404 for the chat, its messages, stream, stop, patch and delete', async () => {
    const alice = createClient(env.flume.url)
    const bob = createClient(env.flume.url)
    const gate = createGate()
    env.fake.enqueue({ chunks: ['secret ', 'answer'], pauseAfter: 1, until: gate.promise })
    const { chat, userMessage, assistantMessage, streamUrl } = await chatAndSend(alice, 'my secret question')
    await bob.json('GET', '/api/chats') // bob has an identity of his own

    const base = `/api/chats/${chat.id}`
    expectError(await bob.json('GET', base), 404, 'not_found')
    expectError(await bob.json('PATCH', base, { title: 'pwned' }), 404, 'not_found')
    expectError(await bob.json('DELETE', base), 404, 'not_found')
    expectError(await bob.json('POST', `${base}/messages`, { content: 'hi from bob' }), 404, 'not_found')
    expectError(await bob.json('POST', `${base}/messages/${assistantMessage.id}/stop`), 404, 'not_found')
    expectError(await bob.json('POST', `${base}/messages/${userMessage.id}/stop`), 404, 'not_found')
    for (const opts of [{}, { lastEventId: 0 }]) {
      const stream = await openStream(bob, streamUrl, opts)
      expect(stream.status).toBe(404)
      expect(stream.errorText).not.toContain('secret')
    }
    const live = await openStream(bob, `${streamUrl}?offset=0`)
    expect(live.status).toBe(404)
    const list = await bob.json<Chat[]>('GET', '/api/chats')
    expect(list.status).toBe(200)
    expect(list.body.map(c => c.id)).not.toContain(chat.id)

    // Nothing bob did had any effect on alice's chat.
    gate.open()
    const final = await waitFinal(alice, chat.id, assistantMessage.id)
    expect(final).toMatchObject({ status: 'done', content: 'secret answer' })
    const full = await getChat(alice, chat.id)
    expect(full.title).not.toBe('pwned')
    expect(full.messages).toHaveLength(2)
    const aliceList = await alice.json<Chat[]>('GET', '/api/chats')
    expect(aliceList.body.map(c => c.id)).toContain(chat.id)
  })

  it('a message id from another chat of the same identity is not found under this chat', async () => {
    const client = createClient(env.flume.url)
    const one = await chatAndSend(client, 'in chat one')
    const two = await newChat(client)
    await waitFinal(client, one.chat.id, one.assistantMessage.id)
    const stream = await openStream(client, `/api/chats/${two.id}/messages/${one.assistantMessage.id}/stream`)
    expect(stream.status).toBe(404)
    expectError(await client.json('POST', `/api/chats/${two.id}/messages/${one.assistantMessage.id}/stop`), 404, 'not_found')
  })
})
