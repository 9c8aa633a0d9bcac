/**
 * Security headers on every kind of answer (pages, API JSON, API errors, the stream, built
 * assets), and HSTS only for https.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { openStream } from '../support/http'
import { chatAndSend, expectError, newChat, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

const HSTS = 'strict-transport-security'

/** What every answer carries, whatever its kind. */
function expectCommon(headers: Headers, what: string) {
  expect(headers.get('x-content-type-options'), what).toBe('nosniff')
  expect(headers.get('x-frame-options'), what).toBe('DENY')
  expect(headers.get('referrer-policy'), what).toBe('strict-origin-when-cross-origin')
  expect(headers.get('x-powered-by'), what).toBeNull()
  // Plain http here: no HSTS.
  expect(headers.get(HSTS), what).toBeNull()
}

/** What API answers (JSON, errors, the stream) carry besides. */
function expectApi(headers: Headers, what: string) {
  expectCommon(headers, what)
  expect(headers.get('content-security-policy'), what).toBe('default-src \'none\'; frame-ancestors \'none\'')
  expect(headers.get('permissions-policy'), what).toMatch(/\bcamera=\(\)/)
  expect(headers.get('cross-origin-resource-policy'), what).toBe('same-origin')
}

function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map(d => d.trim()).filter(Boolean).map((d) => {
    const [name, ...sources] = d.split(/\s+/)
    return [name!, sources]
  }))
}

async function page(path: string, headers: Record<string, string> = {}) {
  const res = await env.client.fetch(path, { headers: { accept: 'text/html', ...headers } })
  return { res, html: await res.text() }
}

describe('pages', () => {
  it('carry a strict CSP with a fresh nonce that the page\'s own scripts and styles carry', async () => {
    const nonces = new Set<string>()
    for (let i = 0; i < 2; i++) {
      const { res, html } = await page('/')
      expect(res.status).toBe(200)
      expectCommon(res.headers, '/')
      const csp = directives(res.headers.get('content-security-policy') ?? '')
      const nonce = csp.get('script-src')?.find(s => s.startsWith('\'nonce-'))?.slice(7, -1)
      expect(nonce).toBeTruthy()
      nonces.add(nonce!)
      expect(csp.get('default-src')).toEqual(['\'none\''])
      expect(csp.get('script-src')).toEqual(['\'self\'', `'nonce-${nonce}'`, '\'strict-dynamic\''])
      expect(csp.get('frame-ancestors')).toEqual(['\'none\''])
      expect([...csp.values()].flat()).not.toContain('\'unsafe-eval\'')
      // Every script element of the page (the payload, the theme script, the entry) has the nonce.
      const scripts = html.match(/<script\b[^>]*>/g) ?? []
      expect(scripts.length).toBeGreaterThan(2)
      for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`)
      for (const tag of html.match(/<style\b[^>]*>/g) ?? []) expect(tag).toContain(`nonce="${nonce}"`)
      expect(res.headers.get('permissions-policy')).toMatch(/\bcamera=\(\)/)
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin')
    }
    expect(nonces.size).toBe(2)
  })

  it('a chat page and the not-found page carry them too', async () => {
    const chat = await newChat(env.client, 'Headers')
    for (const [path, status] of [[`/chat/${chat.id}`, 200], ['/no/such/page', 404]] as const) {
      const { res } = await page(path)
      expect(res.status, path).toBe(status)
      expectCommon(res.headers, path)
      expect(res.headers.get('content-security-policy'), path).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/)
    }
  })
})

describe('API answers', () => {
  it('JSON answers and errors carry them, and errors keep the contract\'s shape', async () => {
    const list = await env.client.json('GET', '/api/chats')
    expect(list.status).toBe(200)
    expectApi(list.headers, 'GET /api/chats')

    const chat = await newChat(env.client)
    const missing = await env.client.json('GET', '/api/chats/nope')
    expectError(missing, 404, 'not_found')
    expectApi(missing.headers, '404')

    const big = await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'x'.repeat(100_001) })
    expectError(big, 413, 'too_large')
    expectApi(big.headers, '413 content')
    const huge = await env.client.raw('POST', `/api/chats/${chat.id}/messages`, JSON.stringify({ content: 'y', pad: 'z'.repeat(1_100_000) }))
    expectError(huge, 413, 'too_large')

    const foreign = await env.client.json('POST', '/api/chats', {}, { origin: 'https://evil.example' })
    expectError(foreign, 403, 'forbidden_origin')
    expectApi(foreign.headers, '403')

    const method = await env.client.json('PUT', `/api/chats/${chat.id}`, { title: 'x' })
    expect(method.status).toBeGreaterThanOrEqual(400)
    expect(method.status).toBeLessThan(500)
    expectApi(method.headers, 'PUT')
  })

  it('the stream, live and from the database, keeps its SSE headers and gains the security headers', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Hello', ' there'], pauseAfter: 1, until: gate.promise })
    const { chat, assistantMessage, streamUrl } = await chatAndSend(env.client, 'hi')
    const live = await openStream(env.client, streamUrl)
    await live.waitForText(t => t === 'Hello')
    gate.open()
    await live.readUntilDone()
    await waitFinal(env.client, chat.id, assistantMessage.id)
    const stored = await openStream(env.client, streamUrl)
    await stored.readUntilDone()
    for (const [what, stream] of [['live', live], ['stored', stored]] as const) {
      expect(stream.status, what).toBe(200)
      expect(stream.headers.get('content-type'), what).toMatch(/^text\/event-stream\b/)
      expect(stream.headers.get('cache-control'), what).toBe('no-cache, no-transform')
      expect(stream.headers.get('x-accel-buffering'), what).toBe('no')
      expectApi(stream.headers, `${what} stream`)
    }
  })
})

describe('built assets', () => {
  it('carry the headers that apply to any file', async () => {
    const { html } = await page('/')
    const assets = [...html.matchAll(/(?:src|href)="(\/_nuxt\/[^"]+\.(?:js|css))"/g)].map(m => m[1]!)
    expect(assets.length).toBeGreaterThan(1)
    for (const path of assets) {
      const res = await env.client.fetch(path)
      expect(res.status, path).toBe(200)
      expectCommon(res.headers, path)
    }
  })
})

describe('HSTS', () => {
  it('is sent only when the request came over https (X-Forwarded-Proto from the proxy)', async () => {
    const asset = (await page('/')).html.match(/<script[^>]+src="(\/_nuxt\/[^"]+\.js)"/)![1]!
    for (const path of ['/', '/api/chats', asset]) {
      const https = await env.client.fetch(path, { headers: { 'x-forwarded-proto': 'https' } })
      expect(https.headers.get(HSTS), path).toBe('max-age=31536000; includeSubDomains')
      const chained = await env.client.fetch(path, { headers: { 'x-forwarded-proto': 'https, http' } })
      expect(chained.headers.get(HSTS), path).toBe('max-age=31536000; includeSubDomains')
      const http = await env.client.fetch(path, { headers: { 'x-forwarded-proto': 'http' } })
      expect(http.headers.get(HSTS), path).toBeNull()
      const direct = await env.client.fetch(path)
      expect(direct.headers.get(HSTS), path).toBeNull()
    }
  })
})
