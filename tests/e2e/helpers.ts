/** Shared setup and assertions for the e2e files (not a test file itself). */
import { expect } from 'vitest'
import { ChatSchema, ChatWithMessagesSchema, MessageSchema, PostMessageResponseSchema, type ChatWithMessages, type Message, type PostMessageResponse } from '../../shared/schemas'
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, eventOf, poll, type Client, type JsonResponse, type SseFrame } from '../support/http'

export interface Env {
  fake: FakeOpenAI
  flume: FlumeServer
  client: Client
  stop: () => Promise<void>
}

/** A fake upstream and a Flume talking to it (no retries, so errors show at once). */
export async function startWithFake(env: Record<string, string> = {}): Promise<Env> {
  const fake = await startFakeOpenAI()
  let flume: FlumeServer
  try {
    flume = await startFlume({
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'test',
      FLUME_MODEL: 'gpt-fake',
      FLUME_UPSTREAM_MAX_RETRIES: '0',
      FLUME_HEARTBEAT_MS: '200',
      FLUME_SAVE_INTERVAL_MS: '100',
      ...env,
    })
  }
  catch (error) {
    await fake.close()
    throw error
  }
  return {
    fake,
    flume,
    client: createClient(flume.url),
    async stop() {
      await flume.stop()
      await fake.close()
    },
  }
}

/** Asserts an h3 error answer: `{ status, statusText, message, data: { code } }`. */
export function expectError(res: JsonResponse, status: number, code?: string) {
  const context = `${res.status} ${res.text.slice(0, 500)}`
  expect(res.status, context).toBe(status)
  expect(res.headers.get('content-type') ?? '', context).toMatch(/^application\/json/)
  expect(res.body?.data, context).toEqual(expect.objectContaining({ code: code ?? expect.any(String) }))
  expect(typeof res.body.message, context).toBe('string')
  // The contract's shape (CONTRACT.md, Conventions), checked last so that a wrong status or code shows first.
  expect(res.body, context).toMatchObject({ status, statusText: expect.any(String), message: expect.any(String) })
}

export function expectNot5xx(res: { status: number, text?: string }) {
  expect(res.status, res.text?.slice(0, 300)).toBeLessThan(500)
}

export async function newChat(client: Client, title?: string) {
  const res = await client.json('POST', '/api/chats', title === undefined ? {} : { title })
  expect(res.status, res.text).toBe(201)
  return ChatSchema.parse(res.body)
}

export async function getChat(client: Client, chatId: string): Promise<ChatWithMessages> {
  const res = await client.json('GET', `/api/chats/${chatId}`)
  expect(res.status, res.text).toBe(200)
  return ChatWithMessagesSchema.parse(res.body)
}

export async function send(client: Client, chatId: string, content: string, model?: string, attachments?: string[]): Promise<PostMessageResponse> {
  const res = await client.json('POST', `/api/chats/${chatId}/messages`, { content, ...(model ? { model } : {}), ...(attachments ? { attachments } : {}) })
  expect(res.status, res.text).toBe(202)
  return PostMessageResponseSchema.parse(res.body)
}

/** Creates a chat and sends one message in it. */
export async function chatAndSend(client: Client, content: string) {
  const chat = await newChat(client)
  const posted = await send(client, chat.id, content)
  return { chat, ...posted }
}

export async function getMessage(client: Client, chatId: string, messageId: string): Promise<Message> {
  const chat = await getChat(client, chatId)
  const m = chat.messages.find(m => m.id === messageId)
  expect(m, `message ${messageId} in chat ${chatId}`).toBeDefined()
  return MessageSchema.parse(m)
}

/** Polls the chat until the message reaches a final status; returns it. */
export async function waitFinal(client: Client, chatId: string, messageId: string, timeoutMs = 10_000): Promise<Message> {
  return await poll(
    () => getMessage(client, chatId, messageId),
    m => m.status === 'done' || m.status === 'stopped' || m.status === 'error',
    { timeoutMs, what: `message ${messageId} to be final` },
  )
}

/**
 * Checks the offset rule on data frames read from `start`: every frame has an `id`, equal to
 * the JavaScript length of the assistant text after it. Returns the text they add.
 */
export function expectOffsets(frames: SseFrame[], start = 0): string {
  let text = ''
  for (const f of frames) {
    if (f.data === undefined) continue
    const e = eventOf(f)
    if (e?.type === 'delta') text += e.text
    expect(f.id, `id of frame ${JSON.stringify(f)}`).toBe(String(start + text.length))
  }
  return text
}

export function events(frames: SseFrame[]) {
  return frames.filter(f => f.data !== undefined).map(f => eventOf(f)!)
}

export function deltaCount(frames: SseFrame[]) {
  return events(frames).filter(e => e.type === 'delta').length
}

export { createClient, poll }
