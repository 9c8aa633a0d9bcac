/**
 * The /htmx page in Chromium (docs/htmx.md): htmx and its SSE extension, served by the app, under
 * the page's strict CSP. A question streams its answer in, a reload mid-answer resumes it, and
 * text that tries to be HTML stays text. Any CSP violation fails the test.
 */
import type { Page } from 'playwright-core'
import { beforeEach, describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { fetchChat, until, useBrowserEnv, watchCsp } from './support'

const env = useBrowserEnv({ FLUME_SAVE_INTERVAL_MS: '100', FLUME_STALL_TIMEOUT_MS: '4000' })

let violations: string[]

const message = (page: Page) => page.getByRole('textbox', { name: 'Message', exact: true })
const answers = (page: Page) => page.locator('article[data-role="assistant"] .content')
const questions = (page: Page) => page.locator('article[data-role="user"] .content')
const chatIdOf = (page: Page) => new URL(page.url()).searchParams.get('chat')!

async function ask(page: Page, text: string) {
  await message(page).fill(text)
  await page.getByRole('button', { name: 'Send', exact: true }).click()
}

async function answerText(page: Page, index = -1) {
  return await answers(page).nth(index).evaluate(el => el.textContent ?? '')
}

describe('/htmx', () => {
  beforeEach(async () => {
    violations = await watchCsp(env.tp.page)
  })

  it('is served with its own strict CSP, htmx from the app, and no eval', async () => {
    const { page } = env.tp
    const res = await page.goto('/htmx')
    expect(res?.status()).toBe(200)
    const headers = res!.headers()
    const csp = headers['content-security-policy']!
    expect(csp).toContain('default-src \'none\'')
    expect(csp).toContain('script-src \'self\'')
    expect(csp).not.toMatch(/unsafe-(eval|inline)/)
    expect(headers['x-frame-options']).toBe('DENY')
    expect(headers['x-content-type-options']).toBe('nosniff')
    expect(headers['cross-origin-opener-policy']).toBe('same-origin')
    expect(headers['cache-control']).toBe('private, no-store')
    expect(await page.evaluate(() => {
      const { htmx } = window as unknown as { htmx: { version: string, config: Record<string, unknown> } }
      return [htmx.version, htmx.config.allowEval, htmx.config.includeIndicatorStyles]
    })).toEqual(['2.0.11', false, false])
    expect(violations).toEqual([])
  })

  it('a question streams its answer in, then the next question goes to the same chat', async () => {
    const { page } = env.tp
    const gate = createGate()
    env.fake.enqueue(
      { chunks: ['The sky ', 'is blue\n', 'because of ', 'Rayleigh 🙂'], pauseAfter: 2, until: gate.promise },
      { chunks: ['Red, ', 'mostly.'] },
    )
    await page.goto('/htmx')
    await ask(page, 'Why is the sky blue?')
    await expect.poll(() => questions(page).first().textContent()).toBe('Why is the sky blue?')
    // The first words show while the answer is still being written.
    await until(() => answerText(page), t => t === 'The sky is blue\n', { what: 'the first words' })
    gate.open()
    await page.waitForURL(/\/htmx\?chat=/)
    const chatId = chatIdOf(page)
    const stored = await until(() => fetchChat(page, chatId), c => c.messages[1]?.status === 'done', { what: 'the answer to be done' })
    await until(() => answerText(page), t => t === stored.messages[1]!.content, { what: 'the whole answer' })
    expect(await message(page).inputValue()).toBe('')

    await ask(page, 'And at sunset?')
    await until(() => answerText(page, 1), t => t === 'Red, mostly.', { what: 'the second answer' })
    const after = await fetchChat(page, chatId)
    expect(after.messages.map(m => m.content)).toEqual(['Why is the sky blue?', stored.messages[1]!.content, 'And at sunset?', 'Red, mostly.'])
    expect(env.tp.problems).toEqual([])
    expect(violations).toEqual([])
  })

  it('a reload mid-answer shows the chat and resumes the running answer: no gap, no duplicate', async () => {
    const { page } = env.tp
    const gate = createGate()
    env.fake.enqueue({ chunks: ['one ', 'two ', '| three ', 'four'], pauseAfter: 2, until: gate.promise })
    await page.goto('/htmx')
    await ask(page, 'count')
    await until(() => answerText(page), t => t === 'one two ', { what: 'the text before the pause' })
    await page.waitForURL(/\/htmx\?chat=/)
    const chatId = chatIdOf(page)
    await until(() => fetchChat(page, chatId), c => c.messages[1]?.content === 'one two ', { what: 'the text to be saved' })

    await page.reload()
    expect(await questions(page).first().textContent()).toBe('count')
    await until(() => answerText(page), t => t === 'one two ', { what: 'the stored text after the reload' })
    await expect.poll(() => answers(page).last().getAttribute('sse-connect')).toMatch(/\?format=htmx&offset=8$/)
    gate.open()
    await until(() => answerText(page), t => t === 'one two | three four', { what: 'the rest of the answer' })
    await until(() => fetchChat(page, chatId), c => c.messages[1]?.status === 'done', { what: 'the answer to be done' })
    // A reload once it is done: the stored answer, no stream.
    await page.reload()
    expect(await answerText(page)).toBe('one two | three four')
    expect(await answers(page).last().getAttribute('sse-connect')).toBeNull()
    expect(violations).toEqual([])
  })

  it('after an HTTP error, the extension\'s new EventSource resumes from the last id (resume.js): no duplicate', async () => {
    const { page } = env.tp
    const gate = createGate()
    env.fake.enqueue({ chunks: ['one ', 'two ', 'three'], pauseAfter: 1, until: gate.promise })
    // The stream as the browser sees it: a first connection that brings "one " and ends, the
    // browser's reconnect (Last-Event-ID) refused with a 503, then the server's own stream.
    const urls: string[] = []
    await page.route(/\/stream\?format=htmx/, async (route) => {
      urls.push(route.request().url())
      if (urls.length === 1) return await route.fulfill({ status: 200, contentType: 'text/event-stream', body: 'retry: 50\n\nid: 4\ndata: one \n\n' })
      if (urls.length === 2) return await route.fulfill({ status: 503, body: '' })
      return await route.continue()
    })
    await page.goto('/htmx')
    await ask(page, 'resume after an error')
    await until(async () => urls.length, n => n >= 3, { what: 'the extension to open a new EventSource' })
    gate.open()
    await page.waitForURL(/\/htmx\?chat=/)
    await until(() => fetchChat(page, chatIdOf(page)), c => c.messages[1]?.status === 'done', { what: 'the answer to be done' })
    await until(() => answerText(page), t => t === 'one two three', { what: 'the answer, once' })
    expect(urls[0]).toMatch(/\?format=htmx&offset=0$/)
    expect(urls[2]).toMatch(/\?format=htmx&offset=4$/)
    expect(violations).toEqual([])
  })

  it('text that tries to be HTML stays text, streamed and after a reload', async () => {
    const { page } = env.tp
    const question = '<img src=x onerror="window.__xss=1"> & <b>bold?</b>'
    const answer = ['<script>window.__xss=2</script>', '<img src=y onerror="window.__xss=3">\n', '&amp; <b>not bold</b> \'"']
    env.fake.enqueue({ chunks: answer, delayMs: 20 })
    await page.goto('/htmx')
    await ask(page, question)
    await until(() => answerText(page), t => t === answer.join(''), { what: 'the whole answer, as text' })
    const check = async () => {
      expect(await questions(page).first().textContent()).toBe(question)
      expect(await answerText(page)).toBe(answer.join(''))
      expect(await page.locator('article img, article script, article b').count()).toBe(0)
      expect(await page.evaluate(() => window.__xss)).toBeUndefined()
    }
    await check()
    await page.waitForURL(/\/htmx\?chat=/)
    await until(() => fetchChat(page, chatIdOf(page)), c => c.messages[1]?.status === 'done', { what: 'the answer to be done' })
    await page.reload()
    await check()
    expect(env.tp.dialogs).toEqual([])
    expect(violations).toEqual([])
  })

  it('an answer that fails shows its error, escaped, at its end', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Half an '], hangAfter: 1 })
    await page.goto('/htmx')
    await ask(page, 'stall')
    const alert = page.locator('article[data-role="assistant"] .flume-error')
    await alert.waitFor({ timeout: 10_000 })
    expect(await alert.getAttribute('data-code')).toBe('upstream_timeout')
    expect(await answerText(page)).toMatch(/^Half an The model server stopped sending/)
    expect(violations).toEqual([])
  })
})
