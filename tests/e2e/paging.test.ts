/** Paged chat lists and messages (docs/paging.md), and search through the database's index (docs/paging.md). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatPageSchema, ChatSchema, ChatWithMessagesSchema, type Chat, type ChatPage } from '../../shared/schemas'
import { createGate } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import type { Client } from '../support/http'
import { createClient, expectError, getChat, getMessage, newChat, poll, send, startWithFake, waitFinal, type Env } from './helpers'

let flume: FlumeServer
let client: Client
beforeAll(async () => {
  flume = await startFlume({ FLUME_DEMO_DELAY_MS: '1' })
  client = createClient(flume.url)
})
afterAll(async () => {
  await flume?.stop()
})

async function page(path: string): Promise<ChatPage> {
  const res = await client.json('GET', path)
  expect(res.status, res.text).toBe(200)
  return ChatPageSchema.parse(res.body)
}

async function everyPage(path: string, limit: number, from: string | null = null): Promise<{ chats: Chat[], pages: number }> {
  const chats: Chat[] = []
  let next = from
  let pages = 0
  do {
    const sep = path.includes('?') ? '&' : '?'
    const got = await page(`${path}${sep}limit=${limit}${next ? `&before=${encodeURIComponent(next)}` : ''}`)
    expect(got.chats.length).toBeLessThanOrEqual(limit)
    chats.push(...got.chats)
    next = got.next
    pages++
  } while (next && pages < 50)
  return { chats, pages }
}

/** Waits until none of the chat's answers is still being written. */
async function settled(chatId: string) {
  return await poll(() => getChat(client, chatId), c => c.messages.every(m => m.status !== 'pending' && m.status !== 'streaming'), { what: 'the answers to end' })
}

describe('the chat list, a page at a time', () => {
  it('without limit or before answers every chat as an array; with them, pages that add up to the same list', async () => {
    for (let i = 0; i < 7; i++) await newChat(client, `Paged chat ${i}`)
    const all = ChatSchema.array().parse((await client.json('GET', '/api/chats')).body)
    expect(all.length).toBeGreaterThanOrEqual(7)

    const first = await page('/api/chats?limit=3')
    expect(first.chats.map(c => c.id)).toEqual(all.slice(0, 3).map(c => c.id))
    expect(first.next).toEqual(expect.any(String))
    const { chats, pages } = await everyPage('/api/chats', 3)
    expect(chats.map(c => c.id)).toEqual(all.map(c => c.id))
    expect(pages).toBe(Math.ceil(all.length / 3))
    // A page that ends exactly with the list says so.
    expect((await page(`/api/chats?limit=${all.length}`)).next).toBeNull()
    // `before` alone: the default page size.
    expect((await page(`/api/chats?before=${encodeURIComponent(first.next!)}`)).chats.map(c => c.id)).toEqual(all.slice(3, 53).map(c => c.id))
  })

  it('keeps its place when a chat moves up meanwhile: no chat is skipped', async () => {
    const before = ChatSchema.array().parse((await client.json('GET', '/api/chats')).body)
    const first = await page('/api/chats?limit=2')
    // The oldest chat gets a new message: it moves to the top, ahead of the pages already read.
    const oldest = before.at(-1)!
    await send(client, oldest.id, 'Back to the top')
    await settled(oldest.id)
    const rest = await everyPage('/api/chats', 2, first.next)
    const seen = new Set([...first.chats, ...rest.chats].map(c => c.id))
    for (const chat of before) if (chat.id !== oldest.id) expect(seen.has(chat.id), chat.title).toBe(true)
  })

  it('pages search results the same way', async () => {
    for (let i = 0; i < 5; i++) await newChat(client, `Searchable heron ${i}`)
    const all = ChatSchema.array().parse((await client.json('GET', '/api/chats?q=heron')).body)
    expect(all.length).toBe(5)
    const { chats } = await everyPage('/api/chats?q=heron', 2)
    expect(chats.map(c => c.id)).toEqual(all.map(c => c.id))
  })

  it('pages search results the same over hundreds of chats, a text many hold and one few hold', async () => {
    // Another identity: 230 chats of its own. PostgreSQL reads the first 200 in order, then goes on
    // that way or through its index (server/storage/search.ts): every way gives the same pages.
    const many = createClient(flume.url)
    for (let i = 0; i < 230; i++) {
      const title = i === 3 ? 'Rare quokka' : i % 9 ? `Haystack ${i}` : `Needle ${i}`
      expect((await many.json('POST', '/api/chats', { title })).status).toBe(201)
    }
    const all = async (q: string) => ChatSchema.array().parse((await many.json('GET', `/api/chats?q=${q}`)).body).map(c => c.id)
    for (const [q, count] of [['needle', 26], ['quokka', 1], ['haystack', 203], ['nothing', 0]] as const) {
      const whole = await all(q)
      expect(whole.length, q).toBe(count)
      for (const limit of [7, 50]) {
        const chats: string[] = []
        let next: string | null = null
        do {
          const res = await many.json('GET', `/api/chats?q=${q}&limit=${limit}${next ? `&before=${encodeURIComponent(next)}` : ''}`)
          const got = ChatPageSchema.parse(res.body)
          chats.push(...got.chats.map(c => c.id))
          next = got.next
        } while (next)
        expect(chats, `${q}, pages of ${limit}`).toEqual(whole)
      }
    }
  })

  it('refuses a bad limit or cursor with 400 invalid_query', async () => {
    for (const query of ['limit=0', 'limit=201', 'limit=abc', 'limit=1&limit=2', 'before=nope', 'before=1.2', 'before=1.2.3.4']) {
      expectError(await client.json('GET', `/api/chats?${query}`), 400, 'invalid_query')
    }
    expect((await client.json('GET', '/api/chats?limit=200')).status).toBe(200)
  })

  it('never shows another identity\'s chats, whatever the cursor', async () => {
    const mine = await page('/api/chats?limit=1')
    const other = createClient(flume.url)
    const res = await other.json('GET', `/api/chats?limit=50&before=${encodeURIComponent(mine.next!)}`)
    expect(ChatPageSchema.parse(res.body)).toEqual({ chats: [], next: null })
  })
})

describe('a long chat, newest messages first', () => {
  it('answers the newest messages and a cursor for the ones before; all of them without limit', async () => {
    const chat = await newChat(client, 'A long one')
    for (let i = 0; i < 6; i++) {
      await send(client, chat.id, `question ${i}`)
      await settled(chat.id)
    }
    const whole = await getChat(client, chat.id)
    expect(whole.messages.length).toBe(12)
    expect(whole.next).toBeUndefined()

    const newest = ChatWithMessagesSchema.parse((await client.json('GET', `/api/chats/${chat.id}?limit=5`)).body)
    expect(newest.title).toBe(whole.title)
    expect(newest.messages.map(m => m.id)).toEqual(whole.messages.slice(-5).map(m => m.id))
    expect(newest.next).toEqual(expect.any(String))

    const ids = newest.messages.map(m => m.id)
    let next = newest.next
    while (next) {
      const older = ChatWithMessagesSchema.parse((await client.json('GET', `/api/chats/${chat.id}?limit=5&before=${next}`)).body)
      ids.unshift(...older.messages.map(m => m.id))
      next = older.next ?? null
    }
    expect(ids).toEqual(whole.messages.map(m => m.id))
    // Exactly all of them in one page: nothing before.
    expect(ChatWithMessagesSchema.parse((await client.json('GET', `/api/chats/${chat.id}?limit=12`)).body).next).toBeNull()
  })

  it('refuses a bad limit or cursor with 400, and another identity\'s chat with 404', async () => {
    const chat = await newChat(client, 'Cursors')
    for (const query of ['limit=0', 'limit=501', 'before=x', 'before=1.2.3']) {
      expectError(await client.json('GET', `/api/chats/${chat.id}?${query}`), 400, 'invalid_query')
    }
    expectError(await createClient(flume.url).json('GET', `/api/chats/${chat.id}?limit=5`), 404, 'not_found')
  })
})

describe('search through the index', () => {
  const ids = async (q: string) => ChatPageSchema.parse((await client.json('GET', `/api/chats?q=${encodeURIComponent(q)}&limit=50`)).body).chats.map(c => c.id)

  it('follows messages as they are written, edited and deleted', async () => {
    const chat = await newChat(client, 'Index upkeep')
    const { userMessage } = await send(client, chat.id, 'Where do the albatrosses nest?')
    await settled(chat.id)
    expect(await ids('ALBATROSS')).toEqual([chat.id])
    // Short queries (below a trigram) still match.
    expect(await ids('albatrosses nest?')).toEqual([chat.id])

    const edited = await client.json('POST', `/api/chats/${chat.id}/messages/${userMessage.id}/edit`, { content: 'Where do the puffins nest?' })
    expect(edited.status, edited.text).toBe(202)
    await settled(chat.id)
    expect(await ids('albatross')).toEqual([])
    expect(await ids('puffins')).toEqual([chat.id])

    expect((await client.json('DELETE', `/api/chats/${chat.id}`)).status).toBe(204)
    expect(await ids('puffins')).toEqual([])
  })

  it('keeps the matching rules: case beyond A-Z, final sigma, % and _ literal, one or two characters', async () => {
    const greek = await newChat(client, 'Greek')
    await send(client, greek.id, 'Ο ΔΡΟΜΟΣ ΠΡΟΣ ΤΗ ΘΑΛΑΣΣΑ')
    const percent = await newChat(client, 'Discounts')
    await send(client, percent.id, 'Save 50% with snake_case coupons, Москва')
    const decoy = await newChat(client, 'Decoys')
    await send(client, decoy.id, 'Save 500 with snakeXcase coupons')
    for (const chat of [greek, percent, decoy]) await settled(chat.id)

    for (const q of ['δρομοσ', 'δρομος', 'ΘΑΛΑΣΣΑ', 'ος προς']) expect(await ids(q), q).toEqual([greek.id])
    expect(await ids('50%')).toEqual([percent.id])
    expect(await ids('snake_case')).toEqual([percent.id])
    expect(await ids('МОСКВА')).toEqual([percent.id])
    expect(await ids('0%')).toEqual([percent.id])
    expect(await ids('Ж')).toEqual([])
  })
})

// Migration 6 indexes an answer when it ends, not at each progress save: the running answers'
// saved text is searched apart, so search finds it all along.
describe('search and answers being written', () => {
  let env: Env
  beforeAll(async () => {
    env = await startWithFake({ FLUME_TITLES: 'off' })
  })
  afterAll(async () => {
    await env?.stop()
  })
  const ids = async (q: string) => ChatPageSchema.parse((await env.client.json('GET', `/api/chats?q=${encodeURIComponent(q)}&limit=50`)).body).chats.map(c => c.id)
  const unpaged = async (q: string) => ChatSchema.array().parse((await env.client.json('GET', `/api/chats?q=${encodeURIComponent(q)}`)).body).map(c => c.id)
  const saved = (chatId: string, messageId: string, text: string) =>
    poll(() => getMessage(env.client, chatId, messageId), m => m.content.includes(text), { what: `"${text}" saved` })

  it('finds a running answer\'s saved text, the finished answer, a stopped one and one going on again', async () => {
    const chat = await newChat(env.client, 'Birds')
    const gate = createGate()
    env.fake.enqueue({ chunks: ['The kestrel hovers ', 'over the meadow.'], pauseAfter: 1, until: gate.promise })
    const { assistantMessage } = await send(env.client, chat.id, 'Tell me about birds of prey')
    expect((await saved(chat.id, assistantMessage.id, 'kestrel')).status).toBe('streaming')
    // Long enough for the index, and too short for it.
    for (const q of ['KESTREL', 'kestrel hov', 'ke']) {
      expect(await ids(q), q).toEqual([chat.id])
      expect(await unpaged(q), q).toEqual([chat.id])
    }
    gate.open()
    expect((await waitFinal(env.client, chat.id, assistantMessage.id)).status).toBe('done')
    expect(await ids('over the meadow')).toEqual([chat.id])
    expect(await ids('kestrel')).toEqual([chat.id])

    // Stopped while running: found with the text it kept; going on again (Continue), still found,
    // old text and new; finished, found by the index again.
    const stopGate = createGate()
    env.fake.enqueue({ chunks: ['Falcons stoop ', 'at great speed.'], pauseAfter: 1, until: stopGate.promise })
    const second = await send(env.client, chat.id, 'And falcons?')
    await saved(chat.id, second.assistantMessage.id, 'Falcons')
    const stopped = await env.client.json('POST', `/api/chats/${chat.id}/messages/${second.assistantMessage.id}/stop`)
    expect(stopped.status, stopped.text).toBe(200)
    stopGate.open()
    expect((await waitFinal(env.client, chat.id, second.assistantMessage.id)).status).toBe('stopped')
    expect(await ids('falcons stoop')).toEqual([chat.id])

    const goOn = createGate()
    env.fake.enqueue({ chunks: ['and dive ', 'on their prey.'], pauseAfter: 1, until: goOn.promise })
    const continued = await env.client.json('POST', `/api/chats/${chat.id}/messages/${second.assistantMessage.id}/continue`)
    expect(continued.status, continued.text).toBe(202)
    await saved(chat.id, second.assistantMessage.id, 'dive')
    expect(await ids('falcons stoop')).toEqual([chat.id])
    expect(await ids('and dive')).toEqual([chat.id])
    goOn.open()
    expect((await waitFinal(env.client, chat.id, second.assistantMessage.id)).status).toBe('done')
    expect(await ids('on their prey')).toEqual([chat.id])
    expect(await ids('falcons stoop')).toEqual([chat.id])

    // Another identity finds none of it, running or not.
    const other = createClient(env.flume.url)
    const running = createGate()
    env.fake.enqueue({ chunks: ['Owls hunt ', 'at night.'], pauseAfter: 1, until: running.promise })
    const third = await send(env.client, chat.id, 'Owls?')
    await saved(chat.id, third.assistantMessage.id, 'Owls hunt')
    expect(ChatPageSchema.parse((await other.json('GET', '/api/chats?q=owls%20hunt&limit=50')).body).chats).toEqual([])
    expect(ChatPageSchema.parse((await other.json('GET', '/api/chats?q=kestrel&limit=50')).body).chats).toEqual([])
    running.open()
    await waitFinal(env.client, chat.id, third.assistantMessage.id)
  })
})
