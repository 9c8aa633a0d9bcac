/**
 * Helpers for the browser tests: Debian's Chromium through playwright-core, one browser per
 * test file, a fresh context (so a fresh identity cookie) per test, and waits expressed on the
 * contract's UI hooks (`Message` textbox, `Send`/`Stop` buttons, `<article data-role data-status>`).
 */
import { mkdirSync } from 'node:fs'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { resolve } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import type { Chat, ChatWithMessages } from '../../shared/schemas'
import { startFakeOpenAI, type FakeOpenAI, type RecordedRequest } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { root } from '../support/paths'

declare global {
  interface Window {
    /** Set by an injected script in the XSS tests: must stay undefined. */
    __xss?: unknown
    /** Dangerous nodes seen inside messages (markdown.test.ts). */
    __dangerous?: string[]
  }
}

export const screenshotDir = resolve(root, 'tests/.artifacts/screenshots')

export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({
    executablePath: process.env.FLUME_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

export interface TestPage {
  context: BrowserContext
  page: Page
  /** Uncaught page errors and console errors seen so far. */
  problems: string[]
  /** Dialogs (alert/confirm/prompt) the page tried to open. */
  dialogs: string[]
  close: () => Promise<void>
}

/**
 * A fresh context (new cookie jar, so a new identity) with one page at `baseUrl`.
 * Requests to anything but the app are aborted: no test talks to the internet.
 */
export async function openPage(browser: Browser, baseUrl: string, opts: { width?: number, height?: number } = {}): Promise<TestPage> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
    colorScheme: 'light',
  })
  const origin = new URL(baseUrl).origin
  await context.route(url => url.origin !== origin, route => route.abort())
  context.setDefaultTimeout(10_000)
  const page = await context.newPage()
  const problems: string[] = []
  const dialogs: string[] = []
  page.on('pageerror', err => problems.push(`pageerror: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`)
  })
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`)
    // A confirmation (e.g. "delete this chat?") is answered yes; anything else is dismissed.
    void (dialog.type() === 'confirm' ? dialog.accept() : dialog.dismiss()).catch(() => {})
  })
  return {
    context,
    page,
    problems,
    dialogs,
    close: async () => {
      await context.close()
    },
  }
}

export const composer = (page: Page) => page.getByRole('textbox', { name: 'Message', exact: true })
export const sendButton = (page: Page) => page.getByRole('button', { name: 'Send', exact: true })
export const stopButton = (page: Page) => page.getByRole('button', { name: 'Stop', exact: true })
export const articles = (page: Page, role?: 'user' | 'assistant') =>
  page.locator(role ? `article[data-role="${role}"]` : 'article[data-role]')
export const lastAssistant = (page: Page) => articles(page, 'assistant').last()
export const lastUser = (page: Page) => articles(page, 'user').last()

/** Types `text` into the composer and presses Enter. */
export async function sendMessage(page: Page, text: string) {
  const box = composer(page)
  await box.click()
  await box.fill(text)
  await box.press('Enter')
}

/** Waits until the `index`-th assistant article (default: the last) has one of `statuses`. */
export async function waitForAssistantStatus(page: Page, statuses: string | string[], { index = -1, timeoutMs = 15_000 } = {}) {
  const wanted = Array.isArray(statuses) ? statuses : [statuses]
  try {
    await page.waitForFunction(([wanted, index]) => {
      const all = document.querySelectorAll('article[data-role="assistant"]')
      const el = all[index < 0 ? all.length + index : index]
      return !!el && wanted.includes(el.getAttribute('data-status') ?? '')
    }, [wanted, index] as const, { timeout: timeoutMs, polling: 25 })
  }
  catch (cause) {
    const seen = await page.evaluate(() => [...document.querySelectorAll('article[data-role]')]
      .map(a => `${a.getAttribute('data-role')}/${a.getAttribute('data-status')}: ${(a as HTMLElement).innerText.slice(0, 200)}`))
      .catch(() => [])
    throw new Error(`assistant message never reached status ${wanted.join('|')}; articles: ${JSON.stringify(seen)}`, { cause })
  }
  // Two frames: text committed with the status is laid out, and a markdown group just put on the
  // page (content-visibility: auto, skipped until a frame has seen it) is read by innerText.
  await page.evaluate(() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))).catch(() => {})
}

/**
 * The answer's rendered text: the article's text without live notes, alerts, buttons and the
 * "stopped" note, i.e. what the markdown rendered. Whitespace is normalised as `innerText` does.
 */
export async function answerText(article: Locator): Promise<string> {
  return await article.evaluate(answerTextIn)
}

/** Runs in the page: see answerText(). Kept free of closures so it can be serialised. */
export function answerTextIn(el: Element): string {
  const skip = (node: Element) => node.matches('[role="status"], [role="alert"], button, .message-note, .message-actions')
  const parts: string[] = []
  for (const child of el.children) {
    if (skip(child)) continue
    parts.push((child as HTMLElement).innerText)
  }
  return parts.join('\n').trim()
}

export interface GrowthSample {
  t: number
  status: string | null
  length: number
  count: number
}

/**
 * Samples, in the page, the last assistant article's status and rendered text length every
 * `intervalMs` until it reaches a final status (or `timeoutMs`). Starts before the article
 * exists, so call it right after sending.
 */
export async function sampleAnswer(page: Page, { intervalMs = 20, timeoutMs = 20_000, minAssistants = 1 } = {}): Promise<GrowthSample[]> {
  return await page.evaluate(async ({ intervalMs, timeoutMs, minAssistants }) => {
    const samples: { t: number, status: string | null, length: number, count: number }[] = []
    const start = performance.now()
    const finals = ['done', 'stopped', 'error']
    for (;;) {
      const all = document.querySelectorAll('article[data-role="assistant"]')
      const el = all.length >= minAssistants ? all[all.length - 1] as HTMLElement | undefined : undefined
      const status = el?.getAttribute('data-status') ?? null
      let length = 0
      if (el) {
        for (const child of el.children) {
          if (child.matches('[role="status"], [role="alert"], button, .message-note, .message-actions')) continue
          length += (child as HTMLElement).innerText.trim().length
        }
      }
      samples.push({ t: Math.round(performance.now() - start), status, length, count: all.length })
      if (status && finals.includes(status)) return samples
      if (performance.now() - start > timeoutMs) return samples
      await new Promise(r => setTimeout(r, intervalMs))
    }
  }, { intervalMs, timeoutMs, minAssistants })
}

/** The chat id of the page's URL (`/chat/:id`). */
export function chatIdOf(page: Page): string {
  const m = /\/chat\/([^/?#]+)/.exec(new URL(page.url()).pathname)
  if (!m) throw new Error(`not on a chat page: ${page.url()}`)
  return decodeURIComponent(m[1]!)
}

/** Waits until the page is on a chat's page and returns its id. */
export async function waitForChatPage(page: Page, timeoutMs = 10_000): Promise<string> {
  await page.waitForURL(/\/chat\/[^/]+$/, { timeout: timeoutMs })
  return chatIdOf(page)
}

/** GET /api/chats/:id with the page's cookies. */
export async function fetchChat(page: Page, chatId: string): Promise<ChatWithMessages> {
  const res = await page.request.get(`/api/chats/${encodeURIComponent(chatId)}`)
  if (res.status() !== 200) throw new Error(`GET /api/chats/${chatId}: ${res.status()} ${await res.text()}`)
  return await res.json() as ChatWithMessages
}

/** GET /api/chats with the page's cookies. */
export async function listChats(page: Page): Promise<Chat[]> {
  const res = await page.request.get('/api/chats')
  if (res.status() !== 200) throw new Error(`GET /api/chats: ${res.status()} ${await res.text()}`)
  return await res.json() as Chat[]
}

/** Waits until `get` returns a value passing `check` (polling from node). */
export async function until<T>(get: () => Promise<T>, check: (v: T) => boolean, { timeoutMs = 10_000, intervalMs = 50, what = 'a condition' } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await get()
    if (check(v)) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(v)?.slice(0, 1000)}`)
    await new Promise(r => setTimeout(r, intervalMs))
  }
}

/** Waits until the page has hydrated (Nuxt's `isHydrating` is false: event handlers are live). */
export async function waitForHydration(page: Page, timeoutMs = 10_000) {
  await page.waitForFunction(() => {
    const root = document.querySelector('#__nuxt') as (Element & { __vue_app__?: { $nuxt?: { isHydrating?: boolean } } }) | null
    return root?.__vue_app__?.$nuxt?.isHydrating === false
  }, undefined, { timeout: timeoutMs, polling: 25 })
}

/** Opens `path` and waits for hydration. */
export async function visit(page: Page, path: string) {
  await page.goto(path)
  await waitForHydration(page)
}

export function ensureScreenshotDir() {
  mkdirSync(screenshotDir, { recursive: true })
}

/** `count` numbered words (`w01 w02 ...`) as chunks, each with its leading space. */
export function numberedWords(count: number, prefix = 'w'): string[] {
  const width = String(count).length
  return Array.from({ length: count }, (_, i) => `${i ? ' ' : ''}${prefix}${String(i + 1).padStart(width, '0')}`)
}

export interface TcpProxy {
  url: string
  /** Connections currently open through the proxy. */
  readonly open: number
  /**
   * Cuts every open connection (as a network outage would) and refuses new ones for
   * `downMs`; the browser sees its requests (an EventSource's too) fail mid-way.
   */
  cut: (downMs?: number) => void
  /** The heads of the HTTP requests the browser sent through the proxy, in order. */
  requestHeads: () => string[]
  close: () => Promise<void>
}

/** A TCP proxy in front of `targetUrl`, so a test can cut the browser's connections. */
export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl)
  const pairs = new Set<[Socket, Socket]>()
  const sent: string[] = []
  let downUntil = 0
  const server = createNetServer((client) => {
    if (Date.now() < downUntil) {
      client.destroy()
      return
    }
    const upstream = connect(Number(target.port), target.hostname)
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const end = () => {
      client.destroy()
      upstream.destroy()
      pairs.delete(pair)
    }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
    client.on('data', chunk => sent.push(chunk.toString('latin1')))
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get open() {
      return pairs.size
    },
    cut(downMs = 0) {
      downUntil = Date.now() + downMs
      for (const [a, b] of [...pairs]) {
        // A reset, not a clean close: as when the network goes away.
        a.resetAndDestroy()
        b.destroy()
      }
      pairs.clear()
    },
    requestHeads: () => sent.join('').match(/(?:GET|POST|PATCH|DELETE|HEAD) \S+ HTTP\/1\.1\r\n[\s\S]*?\r\n\r\n/g) ?? [],
    async close() {
      for (const [a, b] of pairs) {
        a.destroy()
        b.destroy()
      }
      await new Promise<void>(r => server.close(() => r()))
    },
  }
}

export interface BrowserEnv {
  readonly fake: FakeOpenAI
  readonly flume: FlumeServer
  readonly browser: Browser
  /** The page of the running test (opened before each test unless `openPages: false`). */
  tp: TestPage
  /** How many completion requests the fake had got before the running test (it is shared by the file). */
  readonly base: number
  /** The completion requests the fake got during the running test. */
  completions: () => RecordedRequest[]
}

/**
 * Registers the hooks every browser test file needs: a fake upstream and one Flume server
 * talking to it, one Chromium, a fresh page (new identity) per test, and on failure what the
 * page and the server said.
 */
export function useBrowserEnv(flumeEnv: Record<string, string> = {}, { openPages = true } = {}): BrowserEnv {
  const state = { base: 0 } as { fake: FakeOpenAI, flume: FlumeServer, browser: Browser, tp?: TestPage, base: number }
  beforeAll(async () => {
    state.fake = await startFakeOpenAI()
    ;[state.flume, state.browser] = await Promise.all([
      startFlume({ OPENAI_BASE_URL: state.fake.url, OPENAI_API_KEY: 'test', FLUME_UPSTREAM_MAX_RETRIES: '0', ...flumeEnv }),
      launchBrowser(),
    ])
  })
  afterAll(async () => {
    await state.browser?.close()
    await state.flume?.stop()
    await state.fake?.close()
  })
  beforeEach(async () => {
    state.fake.clearQueue()
    state.base = state.fake.completions.length
    state.tp = openPages ? await openPage(state.browser, state.flume.url) : undefined
  })
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      console.log(`[${ctx.task.name}] page problems:`, state.tp?.problems, '\nserver logs (tail):', state.flume.logs().slice(-3000))
    }
    await state.tp?.close()
  })
  return {
    get fake() {
      return state.fake
    },
    get flume() {
      return state.flume
    },
    get browser() {
      return state.browser
    },
    get tp() {
      return state.tp!
    },
    set tp(page: TestPage) {
      state.tp = page
    },
    get base() {
      return state.base
    },
    completions: () => state.fake.completions.slice(state.base),
  }
}

/** Cuts `text` into pieces of `size` characters, so that markup straddles chunks. */
export function pieces(text: string, size: number): string[] {
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/** The sidebar (`<nav aria-label="Chats">`). */
export const sidebar = (page: Page) => page.getByRole('navigation', { name: 'Chats' })

/** The sidebar's chat links (not "Flume" or "New chat"), as the list shows them. */
export const sidebarChatLinks = (page: Page) => sidebar(page).getByRole('list').getByRole('link')

/** The sidebar row (list item) of the chat whose link reads `title` exactly. */
export const sidebarItem = (page: Page, title: string) =>
  sidebar(page).getByRole('listitem').filter({ has: page.getByRole('link', { name: title, exact: true }) })

/**
 * Makes a chat through the API with the page's identity: `title`, then each of `questions`
 * sent in turn, each answer awaited until final (the fake's scenarios answer them).
 */
export async function seedChat(page: Page, title: string, questions: string[] = []): Promise<Chat> {
  const res = await page.request.post('/api/chats', { data: { title } })
  if (res.status() !== 201) throw new Error(`POST /api/chats: ${res.status()} ${await res.text()}`)
  const chat = await res.json() as Chat
  for (const content of questions) {
    const sent = await page.request.post(`/api/chats/${encodeURIComponent(chat.id)}/messages`, { data: { content } })
    if (sent.status() !== 202) throw new Error(`POST messages: ${sent.status()} ${await sent.text()}`)
    await until(() => fetchChat(page, chat.id), c => c.messages.length > 0 && ['done', 'stopped', 'error'].includes(c.messages.at(-1)!.status), { what: `the answer in chat "${title}"` })
  }
  return chat
}

/** Every URL the page requests whose path matches `path`, in order, from now on. */
export function watchRequests(page: Page, path: RegExp): string[] {
  const urls: string[] = []
  page.on('request', (req) => {
    if (path.test(new URL(req.url()).pathname)) urls.push(req.url())
  })
  return urls
}

/**
 * Collects what Chromium reports about the Content-Security-Policy of `page`: its
 * `securitypolicyviolation` events and its console lines about CSP. Call before the first visit.
 */
export async function watchCsp(page: Page): Promise<string[]> {
  const violations: string[] = []
  await page.exposeFunction('__reportCspViolation', (text: string) => {
    violations.push(text)
  })
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as { __reportCspViolation: (text: string) => void }).__reportCspViolation
      void report(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber}) ${e.sample}`)
    })
  })
  page.on('console', (msg) => {
    const text = msg.text()
    if (/Content Security Policy|Refused to/i.test(text)) violations.push(`console ${msg.type()}: ${text}`)
  })
  return violations
}
