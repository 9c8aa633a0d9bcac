import { request } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Chat } from '../../shared/schemas'
import { poll } from '../support/http'
import { createClient, expectError, newChat, startWithFake, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

async function chatCount(client = env.client) {
  return (await client.json<Chat[]>('GET', '/api/chats')).body.length
}

describe('request bodies', () => {
  it('a chunked body (no Content-Length) over 1 MB is refused with 413 as soon as it crosses the limit, not buffered to its end', async () => {
    const cookie = [...env.client.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const before = await chatCount()
    const answer = await new Promise<{ status: number, body: string, sentBytes: number }>((resolve, reject) => {
      let sentBytes = 0
      const req = request(`${env.flume.url}/api/chats`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', cookie },
      })
      req.on('response', (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => {
          resolve({ status: res.statusCode!, body, sentBytes })
          req.destroy()
        })
      })
      req.on('error', () => {})
      const piece = `{"content":"${'x'.repeat(64 * 1024)}`
      // 1.5 MB, then the request stays open: a server that waits for the end never answers.
      const pump = () => {
        while (sentBytes < 1_500_000) {
          sentBytes += piece.length
          if (!req.write(piece)) return void req.once('drain', pump)
        }
      }
      pump()
      setTimeout(() => reject(new Error('no answer while the body was still open')), 10_000)
    })
    expect(answer.status, answer.body).toBe(413)
    expect(JSON.parse(answer.body)).toMatchObject({ data: { code: 'too_large' } })
    expect(await chatCount()).toBe(before)
  })

  it('a client still sending its body after the 413 reads the 413, and its connection carries the next request', async () => {
    const cookie = [...env.client.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const socket = connect(Number(new URL(env.flume.url).port), '127.0.0.1')
    const errors: string[] = []
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (received += d))
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message))
    const write = (text: string) => new Promise<void>(resolve => socket.write(text, () => resolve()))
    const piece = (bytes: number) => `${bytes.toString(16)}\r\n${'x'.repeat(bytes)}\r\n`
    try {
      await write(`POST /api/chats HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\ncookie: ${cookie}\r\n\r\n`)
      for (let i = 0; i < 17; i++) await write(piece(64 * 1024))
      await poll(async () => received, r => r.includes('too_large'), { what: 'the 413 while the body is still open' })
      expect(received).toMatch(/^HTTP\/1\.1 413 /)
      // The rest of the body, as a client that writes it all before reading would send it.
      for (let i = 0; i < 6; i++) await write(piece(64 * 1024))
      await write('0\r\n\r\n')
      await write(`GET /api/chats HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: ${cookie}\r\n\r\n`)
      await poll(async () => received, r => r.includes('HTTP/1.1 200'), { what: 'the next request answered on the same connection' })
      expect(errors).toEqual([])
    }
    finally {
      socket.destroy()
    }
  })

  it('a body that is not application/json is refused with 415 and nothing is stored', async () => {
    const before = await chatCount()
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await env.client.raw('POST', '/api/chats', '{"title":"from a form"}', { 'content-type': type })
      expectError(res, 415, 'unsupported_media_type')
    }
    const ok = await env.client.raw('POST', '/api/chats', '{"title":"json"}', { 'content-type': 'application/json; charset=utf-8' })
    expect(ok.status, ok.text).toBe(201)
    expect(await chatCount()).toBe(before + 1)
  })
})

describe('the Origin check behind proxies', () => {
  it('takes the first X-Forwarded-Host of a list, and compares the scheme too', async () => {
    const client = createClient(env.flume.url)
    const chat = await newChat(client)
    const behindProxy = { 'x-forwarded-host': 'chat.example, proxy.internal:8080', 'x-forwarded-proto': 'https, http' }
    const ok = await client.json('PATCH', `/api/chats/${chat.id}`, { title: 'renamed' }, { ...behindProxy, origin: 'https://chat.example' })
    expect(ok.status, ok.text).toBe(200)
    expectError(await client.json('PATCH', `/api/chats/${chat.id}`, { title: 'x' }, { ...behindProxy, origin: 'http://chat.example' }), 403, 'forbidden_origin')
    // Without a proxy: this server is http, so an https page of the same host is another origin.
    expectError(await client.json('PATCH', `/api/chats/${chat.id}`, { title: 'x' }, { origin: env.flume.url.replace('http:', 'https:') }), 403, 'forbidden_origin')
  })
})

describe('methods', () => {
  it('a known API path asked with another method is 405 method_not_allowed with Allow; an unknown one 404', async () => {
    const chat = await newChat(env.client)
    const cases: [string, string, string][] = [
      ['PUT', '/api/chats', 'GET, POST, HEAD'],
      ['POST', `/api/chats/${chat.id}`, 'GET, PATCH, DELETE, HEAD'],
      ['GET', `/api/chats/${chat.id}/messages`, 'POST'],
      ['DELETE', '/api/health', 'GET, HEAD'],
    ]
    for (const [method, path, allow] of cases) {
      const res = await env.client.json(method, path)
      expectError(res, 405, 'method_not_allowed')
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow)
    }
    expectError(await env.client.json('GET', '/api/nothing-here'), 404, 'not_found')
    expect(await chatCount()).toBeGreaterThan(0)
  })
})
