import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStream } from '../support/http'
import { chatAndSend, expectOffsets, startWithFake, waitFinal, type Env } from './helpers'

const WRITE_TIMEOUT_MS = 500
// Far more than the loopback socket buffers of both ends can hold (a few MB each).
const CHUNK = 'x'.repeat(64 * 1024)
const CHUNKS = 256

let env: Env
beforeAll(async () => {
  env = await startWithFake({ FLUME_WRITE_TIMEOUT_MS: String(WRITE_TIMEOUT_MS) })
})
afterAll(async () => {
  await env?.stop()
})

describe('a reader that never reads', () => {
  it('is dropped after the write timeout, without slowing other readers or the answer', async () => {
    env.fake.enqueue({ chunks: Array.from({ length: CHUNKS }, () => CHUNK), delayMs: 1 })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'a long answer')
    const cookie = [...env.client.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const { port } = new URL(env.flume.url)

    // A TCP client that asks for the stream and then never reads a byte.
    const stalled = connect(Number(port), '127.0.0.1')
    stalled.pause()
    await new Promise(resolve => stalled.once('connect', resolve))
    stalled.write(`GET ${streamUrl} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nCookie: ${cookie}\r\n\r\n`)
    let closedAt: number | undefined
    stalled.on('close', () => (closedAt ??= Date.now()))

    // Another reader follows the whole answer meanwhile.
    const reader = await openStream(env.client, streamUrl)
    const frames = await reader.readUntilDone(30_000)
    expect(expectOffsets(frames)).toHaveLength(CHUNK.length * CHUNKS)
    expect(await waitFinal(env.client, chat.id, assistantMessage.id, 30_000)).toMatchObject({ status: 'done' })

    // Give the server the write timeout (and some), then read what the stalled client was sent.
    await new Promise(r => setTimeout(r, WRITE_TIMEOUT_MS * 4))
    let received = ''
    stalled.setEncoding('utf8')
    stalled.on('data', (d: string) => (received += d))
    stalled.resume()
    await new Promise<void>((resolve) => {
      if (closedAt) return resolve()
      stalled.once('close', () => resolve())
      setTimeout(resolve, 10_000)
    })
    expect(closedAt, 'the server dropped the connection').toBeDefined()
    // It was cut: never the end of the answer.
    expect(received).not.toContain('data: [DONE]')
    expect(received.length).toBeLessThan(CHUNK.length * CHUNKS)
    stalled.destroy()
  })
})
