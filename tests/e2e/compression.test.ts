/**
 * Built assets are compressed at build time (brotli and gzip next to each file) and the server
 * sends the variant the browser accepts, with Content-Encoding and Vary; the JavaScript the home
 * page loads in Chromium is at most 100 KB on the wire.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser } from '../browser/support'
import { startFlume, type FlumeServer } from '../support/flume-server'

let flume: FlumeServer
beforeAll(async () => {
  flume = await startFlume()
})
afterAll(async () => {
  await flume?.stop()
})

/** The home page's entry script, as its HTML names it. */
async function entryScript(): Promise<string> {
  const html = await (await fetch(`${flume.url}/`)).text()
  return html.match(/<script[^>]+type="module"[^>]+src="(\/_nuxt\/[^"]+\.js)"/)?.[1]
    ?? html.match(/<script[^>]+src="(\/_nuxt\/[^"]+\.js)"[^>]*type="module"/)![1]!
}

/** A raw GET (Node's fetch would decode the body and hide what went over the wire). */
async function get(path: string, acceptEncoding?: string) {
  const { request } = await import('node:http')
  return await new Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }>((resolve, reject) => {
    const req = request(`${flume.url}${path}`, { headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('compressed assets', () => {
  it('sends brotli or gzip as accepted, with Content-Encoding and Vary, and the same bytes decoded', async () => {
    const path = await entryScript()
    const plain = await get(path)
    expect(plain.status).toBe(200)
    expect(plain.headers['content-encoding']).toBeUndefined()
    // The plain answer varies too: a cache must not hand it to a browser that accepts brotli.
    expect(plain.headers.vary).toMatch(/accept-encoding/i)

    const br = await get(path, 'gzip, deflate, br, zstd')
    expect(br.headers['content-encoding']).toBe('br')
    expect(br.headers.vary).toMatch(/accept-encoding/i)
    expect(br.headers['content-type']).toMatch(/javascript/)
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(Number(br.headers['content-length'])).toBe(br.body.length)
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true)

    const gz = await get(path, 'gzip')
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(gz.headers.vary).toMatch(/accept-encoding/i)
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true)

    expect(br.body.length).toBeLessThan(gz.body.length)
    expect(gz.body.length).toBeLessThan(plain.body.length / 2)
  })

  it('the home page\'s JavaScript is at most 100 KB on the wire in Chromium', async () => {
    const browser = await launchBrowser()
    try {
      const context = await browser.newContext({ extraHTTPHeaders: { 'accept-encoding': 'br, gzip' } })
      const page = await context.newPage()
      const scripts: Promise<{ url: string, bytes: number, encoding?: string }>[] = []
      page.on('requestfinished', (req) => {
        if (req.resourceType() !== 'script') return
        scripts.push((async () => {
          const [sizes, res] = await Promise.all([req.sizes(), req.response()])
          return { url: req.url(), bytes: sizes.responseBodySize + sizes.responseHeadersSize, encoding: res?.headers()['content-encoding'] }
        })())
      })
      await page.goto(`${flume.url}/`, { waitUntil: 'networkidle' })
      await page.waitForFunction(() => document.documentElement.dataset.hydrated === 'true')
      await page.waitForLoadState('networkidle')
      const loaded = await Promise.all(scripts)
      const total = loaded.reduce((sum, s) => sum + s.bytes, 0)
      const report = loaded.map(s => `${new URL(s.url).pathname} ${s.bytes} B ${s.encoding ?? 'identity'}`).join('\n')
      console.log(`home page JS on the wire: ${total} bytes in ${loaded.length} scripts (body and headers)\n${report}`)
      expect(loaded.length).toBeGreaterThan(0)
      for (const s of loaded) expect(s.encoding, s.url).toBe('br')
      expect(total, report).toBeLessThanOrEqual(100 * 1024)
      await context.close()
    }
    finally {
      await browser.close()
    }
  })
})
