/**
 * The WebSocket at /api/ws (docs/websocket.md) from a page in Chromium: the browser's own
 * WebSocket, its cookie and Origin, under the app's CSP (`connect-src 'self'`).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { useBrowserEnv, visit } from './support'

const env = useBrowserEnv()

const CHUNKS = ['Grüße 👋🏽 ', 'from 日本語,\n', '👨‍👩‍👧‍👦 and 🇫🇷;\n\n', '```js\nconst s = "😀"\n```\n', 'the end 🎉']

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- frames as the page saw them
type Frame = Record<string, any>

declare global {
  interface Window {
    flumeWs: { socket: WebSocket, frames: Frame[] }[]
  }
}

/** Starts an answer from the page; answers its chat and message ids. */
async function ask(content: string): Promise<{ chatId: string, messageId: string }> {
  return await env.tp.page.evaluate(async (content) => {
    const res = await fetch('/api/chats', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content }) })
    const chat = await res.json()
    return { chatId: chat.id, messageId: chat.messages[1].id }
  }, content)
}

/** Opens socket number `n` in the page and sends `messages` once it is open. */
async function openSocket(messages: unknown[]): Promise<number> {
  return await env.tp.page.evaluate(async (messages) => {
    window.flumeWs ??= []
    const socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/ws`)
    const entry = { socket, frames: [] as Frame[] }
    socket.onmessage = event => entry.frames.push(JSON.parse(event.data))
    await new Promise((resolve, reject) => {
      socket.onopen = resolve
      socket.onerror = () => reject(new Error('the socket did not open'))
    })
    for (const message of messages) socket.send(JSON.stringify(message))
    return window.flumeWs.push(entry) - 1
  }, messages)
}

async function framesOf(n: number): Promise<Frame[]> {
  return await env.tp.page.evaluate(n => window.flumeWs[n]!.frames, n)
}

async function waitForFrame(n: number, match: (f: Frame) => boolean, what: string): Promise<Frame[]> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const frames = await framesOf(n)
    if (frames.some(match)) return frames
    if (Date.now() > deadline) throw new Error(`no ${what}; got ${JSON.stringify(frames).slice(0, 1500)}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

async function stored(chatId: string, messageId: string): Promise<{ content: string, status: string }> {
  return await env.tp.page.evaluate(async ({ chatId, messageId }) => {
    const chat = await (await fetch(`/api/chats/${chatId}`)).json()
    return chat.messages.find((m: { id: string }) => m.id === messageId)
  }, { chatId, messageId })
}

function joined(frames: Frame[], messageId: string, start = 0): string {
  let text = ''
  for (const f of frames.filter(f => f.messageId === messageId)) {
    if (f.type === 'delta') text += f.text
    expect(f.id).toBe(start + text.length)
  }
  return text
}

const isDone = (messageId: string) => (f: Frame) => f.messageId === messageId && f.type === 'done'

describe('the WebSocket in Chromium', () => {
  it('follows an answer, and after a dropped socket resumes from its offset on a new one: the stored text byte for byte', async () => {
    await visit(env.tp.page, '/')
    const gate = createGate()
    env.fake.enqueue({ chunks: CHUNKS, delayMs: 5, pauseAfter: 2, until: gate.promise })
    const { chatId, messageId } = await ask('unicode please')
    const first = await openSocket([{ type: 'follow', messageId }])
    const before = await waitForFrame(first, f => f.type === 'delta' && f.id >= CHUNKS.slice(0, 2).join('').length, 'the first two chunks')
    const offset = before.filter(f => f.type === 'delta').at(-1)!.id
    await env.tp.page.evaluate(n => window.flumeWs[n]!.socket.close(), first)
    gate.open()
    const second = await openSocket([{ type: 'follow', messageId, offset }])
    const after = await waitForFrame(second, isDone(messageId), 'done')
    const answer = await stored(chatId, messageId)
    expect(answer.status).toBe('done')
    expect(joined(before, messageId) + joined(after, messageId, offset)).toBe(answer.content)
    expect(answer.content).toBe(CHUNKS.join(''))
    expect(env.tp.problems).toEqual([])
  })

  it('follows two answers on one socket and stops one: its upstream request is aborted, the other finishes', async () => {
    await visit(env.tp.page, '/')
    env.fake.enqueue(
      { chunks: ['never ', 'ends'], delayMs: 5, hangAfter: 1, match: r => JSON.stringify(r.body).includes('stop this one') },
      { chunks: ['fine ', 'and ', 'done'], delayMs: 20, match: r => JSON.stringify(r.body).includes('let this one finish') },
    )
    const index = env.fake.completions.length
    const stopped = await ask('stop this one')
    const upstream = await env.fake.waitForCompletion(index)
    const finished = await ask('let this one finish')
    const n = await openSocket([{ type: 'follow', messageId: stopped.messageId }, { type: 'follow', messageId: finished.messageId }])
    await waitForFrame(n, f => f.messageId === stopped.messageId && f.type === 'delta', 'a delta of the answer to stop')
    await env.tp.page.evaluate(({ n, messageId }) => window.flumeWs[n]!.socket.send(JSON.stringify({ type: 'stop', messageId })), { n, messageId: stopped.messageId })
    await waitForFrame(n, isDone(stopped.messageId), 'the stopped answer\'s done')
    expect(await upstream.outcome).toBe('aborted')
    const frames = await waitForFrame(n, isDone(finished.messageId), 'the other answer\'s done')
    expect(joined(frames, finished.messageId)).toBe('fine and done')
    expect(await stored(stopped.chatId, stopped.messageId)).toMatchObject({ status: 'stopped', content: 'never ' })
    expect(joined(frames, stopped.messageId)).toBe('never ')
  })

  describe('from a page of another origin', () => {
    let other: Server
    let otherUrl: string
    beforeAll(async () => {
      // Same site (127.0.0.1, another port): the browser sends the SameSite=Lax session cookie, so only the Origin check stands in the way.
      other = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' })
        res.end('<!doctype html><title>elsewhere</title>')
      })
      await new Promise<void>(resolve => other.listen(0, '127.0.0.1', resolve))
      otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`
    })
    afterAll(async () => {
      await new Promise(resolve => other?.close(resolve))
    })

    it('cannot open the socket, though the browser has the session cookie', async () => {
      const context = await env.browser.newContext()
      try {
        const page = await context.newPage()
        await page.goto(env.flume.url)
        expect((await context.cookies()).map(c => c.name)).toContain('flume_session')
        await page.goto(otherUrl)
        const outcome = await page.evaluate(async (url) => {
          const socket = new WebSocket(url)
          return await new Promise<string>((resolve) => {
            socket.onopen = () => resolve('open')
            socket.onclose = event => resolve(`closed ${event.code}`)
          })
        }, `${env.flume.url.replace(/^http/, 'ws')}/api/ws`)
        expect(outcome).toBe('closed 1006')
      }
      finally {
        await context.close()
      }
    })
  })
})
