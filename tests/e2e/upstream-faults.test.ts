import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, openStream, type Client } from '../support/http'
import { events, expectOffsets, newChat, send, waitFinal } from './helpers'

/**
 * A model server that misbehaves at the byte level, which tests/support/fake-openai.ts does not
 * do: no answer at all, silence after some chunks, chunks that are not JSON or not a completion.
 * Each fault ends the answer with its code (an error frame, then [DONE]; the message stored with
 * status `error` and the text so far) within the configured timeout.
 * (upstream-errors.test.ts covers HTTP error statuses, dropped connections and error events.)
 */

const UPSTREAM_TIMEOUT_MS = 1000
const STALL_TIMEOUT_MS = 1000
// A loaded machine's delay on top of a timeout; well under what a hang without one would take.
const SLACK_MS = 4000

type Script = (res: ServerResponse, req: IncomingMessage) => void

const created = Math.floor(Date.now() / 1000)
const chunk = (delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-raw', object: 'chat.completion.chunk', created, model: 'gpt-raw', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
const streamHead = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.write(chunk({ role: 'assistant', content: '' }))
}

let upstream: Server
const scripts: Script[] = []
/** How each completion request ended: `aborted` when Flume gave it up. */
const outcomes: Promise<'aborted' | 'completed'>[] = []
let flume: FlumeServer
let client: Client

beforeAll(async () => {
  upstream = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/v1/models')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-raw', object: 'model', created, owned_by: 'test' }] }))
      return
    }
    outcomes.push(new Promise(resolve => res.on('close', () => resolve(res.writableFinished ? 'completed' : 'aborted'))))
    const script = scripts.shift()
    req.resume()
    req.on('end', () => {
      if (script) return script(res, req)
      streamHead(res)
      res.write(chunk({ content: 'fine' }))
      res.end(chunk({}, 'stop') + 'data: [DONE]\n\n')
    })
  })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  const { port } = upstream.address() as AddressInfo
  flume = await startFlume({
    OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
    OPENAI_API_KEY: 'test',
    FLUME_MODEL: 'gpt-raw',
    FLUME_UPSTREAM_MAX_RETRIES: '0',
    FLUME_UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    FLUME_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
    FLUME_HEARTBEAT_MS: '200',
  })
  client = createClient(flume.url)
})
afterAll(async () => {
  await flume?.stop()
  upstream?.closeAllConnections()
  await new Promise(resolve => upstream?.close(resolve))
})

/** Posts a question whose answer plays `script`; reads its stream to [DONE]; times the end from the post. */
async function answerWith(script: Script) {
  const chat = await newChat(client)
  const n = outcomes.length
  scripts.push(script)
  const started = Date.now()
  const { assistantMessage, streamUrl } = await send(client, chat.id, 'misbehave')
  const stream = await openStream(client, streamUrl)
  const frames = await stream.readUntilDone(UPSTREAM_TIMEOUT_MS + STALL_TIMEOUT_MS + SLACK_MS + 5000)
  const elapsed = Date.now() - started
  const stored = await waitFinal(client, chat.id, assistantMessage.id)
  const evs = events(frames)
  expect(evs.at(-1)).toEqual({ type: 'done' })
  const errors = evs.filter(e => e.type === 'error')
  return { frames, text: expectOffsets(frames), error: errors.length === 1 && evs.at(-2) === errors[0] ? errors[0] : undefined, errors, stored, elapsed, outcome: outcomes[n] }
}

describe('a model server that hangs', () => {
  it('before its first byte (not even a status line): upstream_timeout within FLUME_UPSTREAM_TIMEOUT_MS, and the request is given up', async () => {
    const r = await answerWith(() => {})
    expect(r.error, JSON.stringify(r.frames)).toMatchObject({ code: 'upstream_timeout' })
    expect(r.stored).toMatchObject({ status: 'error', content: '', error: { code: 'upstream_timeout' } })
    expect(r.elapsed).toBeGreaterThanOrEqual(UPSTREAM_TIMEOUT_MS - 50)
    expect(r.elapsed).toBeLessThan(UPSTREAM_TIMEOUT_MS + SLACK_MS)
    expect(await r.outcome).toBe('aborted')
  })

  it('after its headers: upstream_timeout within FLUME_STALL_TIMEOUT_MS', async () => {
    const r = await answerWith((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.flushHeaders()
    })
    expect(r.error).toMatchObject({ code: 'upstream_timeout' })
    expect(r.stored).toMatchObject({ status: 'error', content: '', error: { code: 'upstream_timeout' } })
    expect(r.elapsed).toBeGreaterThanOrEqual(STALL_TIMEOUT_MS - 50)
    expect(r.elapsed).toBeLessThan(STALL_TIMEOUT_MS + SLACK_MS)
    expect(await r.outcome).toBe('aborted')
  })

  it('mid-answer: upstream_timeout within FLUME_STALL_TIMEOUT_MS of the last chunk, the text so far kept', async () => {
    let lastChunkAt = 0
    const r = await answerWith((res) => {
      streamHead(res)
      res.write(chunk({ content: 'So far ' }))
      setTimeout(() => {
        res.write(chunk({ content: 'so good' }))
        lastChunkAt = Date.now()
      }, 300)
    })
    expect(r.text).toBe('So far so good')
    expect(r.error).toMatchObject({ code: 'upstream_timeout' })
    expect(r.stored).toMatchObject({ status: 'error', content: 'So far so good', error: { code: 'upstream_timeout' } })
    const afterLast = Date.now() - lastChunkAt
    expect(afterLast).toBeGreaterThanOrEqual(STALL_TIMEOUT_MS - 50)
    expect(r.elapsed).toBeLessThan(300 + STALL_TIMEOUT_MS + SLACK_MS)
    expect(await r.outcome).toBe('aborted')
  })

  it('mid-frame (half a chunk, then silence): upstream_timeout, the whole chunks kept', async () => {
    const r = await answerWith((res) => {
      streamHead(res)
      res.write(chunk({ content: 'Whole. ' }))
      res.write(chunk({ content: 'Never finished' }).slice(0, 40))
    })
    expect(r.text).toBe('Whole. ')
    expect(r.error).toMatchObject({ code: 'upstream_timeout' })
    expect(r.stored).toMatchObject({ status: 'error', content: 'Whole. ', error: { code: 'upstream_timeout' } })
    expect(r.elapsed).toBeLessThan(STALL_TIMEOUT_MS + SLACK_MS)
  })
})

describe('a model server that sends malformed chunks', () => {
  it('a data line that is not JSON: upstream_error at once, the text so far kept, the request closed', async () => {
    const r = await answerWith((res) => {
      streamHead(res)
      res.write(chunk({ content: 'Before ' }))
      res.write('data: {"choices":[{"delta":{"content":"cut\n\n')
      // The server would go on; Flume must not wait for it.
      const more = setInterval(() => res.write(chunk({ content: 'after ' })), 100)
      res.on('close', () => clearInterval(more))
    })
    expect(r.text).toBe('Before ')
    expect(r.error).toMatchObject({ code: 'upstream_error' })
    expect(r.stored).toMatchObject({ status: 'error', content: 'Before ', error: { code: 'upstream_error' } })
    expect(r.elapsed).toBeLessThan(SLACK_MS)
    expect(await r.outcome).toBe('aborted')
  })

  it('binary garbage as a data line: upstream_error, the text so far kept', async () => {
    const r = await answerWith((res) => {
      streamHead(res)
      res.write(chunk({ content: 'Bytes: ' }))
      res.write(Buffer.concat([Buffer.from('data: '), Buffer.from([0xFF, 0x00, 0xFE, 0x7B, 0x80]), Buffer.from('\n\n')]))
    })
    expect(r.text).toBe('Bytes: ')
    expect(r.error).toMatchObject({ code: 'upstream_error' })
    expect(r.stored).toMatchObject({ status: 'error', content: 'Bytes: ', error: { code: 'upstream_error' } })
    expect(r.elapsed).toBeLessThan(SLACK_MS)
  })

  it('an error object in place of a chunk, after text: upstream_error with the text kept', async () => {
    const r = await answerWith((res) => {
      streamHead(res)
      res.write(chunk({ content: 'Partly ' }))
      res.end('data: {"error":"model crashed"}\n\n')
    })
    expect(r.text).toBe('Partly ')
    expect(r.error).toMatchObject({ code: 'upstream_error' })
    expect(r.stored).toMatchObject({ status: 'error', content: 'Partly ', error: { code: 'upstream_error' } })
  })

  it('SSE lines that are not data (unknown fields, comments) are skipped, as the SSE rules say', async () => {
    const r = await answerWith((res) => {
      streamHead(res)
      res.write(': keep-alive\n\ndata: {"choices":[{"index":0,"delta":{"content":"Still "}}]}\n\nnonsense line\n\n')
      res.end(chunk({ content: 'fine' }) + chunk({}, 'stop') + 'data: [DONE]\n\n')
    })
    expect(r.errors).toEqual([])
    expect(r.text).toBe('Still fine')
    expect(r.stored).toMatchObject({ status: 'done', content: 'Still fine' })
  })

  it('after a fault, the next answer is fine', async () => {
    const r = await answerWith((res) => {
      streamHead(res)
      res.end(chunk({ content: 'all good' }) + chunk({}, 'stop') + 'data: [DONE]\n\n')
    })
    expect(r.errors).toEqual([])
    expect(r.stored).toMatchObject({ status: 'done', content: 'all good' })
  })
})
