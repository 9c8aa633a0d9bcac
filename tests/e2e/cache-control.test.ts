/**
 * Caching: pages and API answers hold a person's chats and are never stored (by the browser or
 * a proxy); built assets, named by their content, are cached for a year.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newChat, startWithFake, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

async function page(path: string) {
  const res = await env.client.fetch(path, { headers: { accept: 'text/html' } })
  return { res, html: await res.text() }
}

describe('caching', () => {
  it('pages, which hold a person\'s chats, are never stored; API answers neither', async () => {
    const chat = await newChat(env.client, 'Private')
    for (const path of ['/', `/chat/${chat.id}`, '/no/such/page']) {
      const { res } = await page(path)
      expect(res.headers.get('cache-control'), path).toBe('private, no-store')
    }
    expect((await env.client.json('GET', `/api/chats/${chat.id}`)).headers.get('cache-control')).toBe('no-store')
    expect((await env.client.json('GET', '/api/chats/nope')).headers.get('cache-control')).toBe('no-store')
  })

  it('built assets keep a year of immutable caching; a missing one is not cached', async () => {
    const { html } = await page('/')
    const assets = [...html.matchAll(/(?:src|href)="(\/_nuxt\/[^"]+\.(?:js|css))"/g)].map(m => m[1]!)
    expect(assets.length).toBeGreaterThan(1)
    for (const path of assets) {
      const res = await env.client.fetch(path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable')
    }
    const missing = await env.client.fetch('/_nuxt/no-such-chunk.js')
    expect(missing.status).toBe(404)
    expect(missing.headers.get('cache-control') ?? '').not.toMatch(/immutable|max-age=[1-9]/)
  })
})
