/**
 * How the app feels in Chromium: the theme toggle (and that it survives a reload with no flash),
 * Escape to stop, focus back in the composer, the growing composer, "Jump to latest", the live
 * region, the example prompts, the 375 px layout. Screenshots of home and chat at 1280 and
 * 375 px in light and dark go to tests/.artifacts/screenshots/ for a reviewer.
 */
import { resolve } from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import {
  answerText,
  composer,
  ensureScreenshotDir,
  lastAssistant,
  numberedWords,
  openPage,
  screenshotDir,
  sendMessage,
  stopButton,
  until,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
  useBrowserEnv,
} from './support'

const env = useBrowserEnv({ FLUME_SAVE_INTERVAL_MS: '200' }, { openPages: false })

const themeButton = (page: Page) => page.getByRole('button', { name: /^Theme/ })
const htmlTheme = (page: Page) => page.evaluate(() => document.documentElement.getAttribute('data-theme'))
const rootBackground = (page: Page) => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)
const DARK_BG = 'rgb(21, 23, 27)'
const LIGHT_BG = 'rgb(255, 255, 255)'
const announced = (page: Page) => page.locator('[aria-live="polite"]').innerText()

describe('theme', () => {
  it('follows the system, then cycles light → dark → system with the Theme button, and keeps the choice across a reload', async () => {
    env.tp = await openPage(env.browser, env.flume.url)
    const { page } = env.tp
    await page.emulateMedia({ colorScheme: 'dark' })
    await visit(page, '/')
    // The system says dark: dark it is, before any choice.
    expect(await htmlTheme(page)).toBe('dark')
    expect(await rootBackground(page)).toBe(DARK_BG)
    await expect.poll(() => themeButton(page).getAttribute('data-theme-choice')).toBe('auto')

    await themeButton(page).click()
    expect(await themeButton(page).getAttribute('data-theme-choice')).toBe('light')
    await expect.poll(() => htmlTheme(page)).toBe('light')
    expect(await rootBackground(page)).toBe(LIGHT_BG)

    // Remembered: the server-rendered page is already light before any script of the app runs
    // (the head script), so there is no flash of the dark theme.
    await page.reload({ waitUntil: 'commit' })
    await page.waitForSelector('body', { state: 'attached' })
    await page.waitForFunction(() => document.readyState !== 'loading')
    expect(await htmlTheme(page)).toBe('light')
    await visit(page, '/')
    expect(await rootBackground(page)).toBe(LIGHT_BG)
    await expect.poll(() => themeButton(page).getAttribute('data-theme-choice')).toBe('light')

    await themeButton(page).click()
    await expect.poll(() => htmlTheme(page)).toBe('dark')
    await page.emulateMedia({ colorScheme: 'light' })
    await page.reload()
    expect(await htmlTheme(page)).toBe('dark')
    expect(await rootBackground(page)).toBe(DARK_BG)

    // Back to the system: light now.
    await visit(page, '/')
    await expect.poll(() => themeButton(page).getAttribute('data-theme-choice')).toBe('dark')
    await themeButton(page).click()
    expect(await themeButton(page).getAttribute('data-theme-choice')).toBe('auto')
    await expect.poll(() => htmlTheme(page)).toBe('light')
    expect(await rootBackground(page)).toBe(LIGHT_BG)
    expect(env.tp.problems).toEqual([])
  })
})

/** Opens a page and sends a question whose answer streams slowly (200 words, 60 ms apart). */
async function startSlowAnswer() {
  env.tp = await openPage(env.browser, env.flume.url)
  const { page } = env.tp
  env.fake.enqueue({ chunks: numberedWords(200, 's'), delayMs: 60 })
  await visit(page, '/')
  await sendMessage(page, 'Count slowly')
  await waitForChatPage(page)
  return page
}

describe('composer and answers', () => {
  it('Escape stops a streaming answer; focus stays in the composer; live region says started and stopped', async () => {
    const page = await startSlowAnswer()
    await until(() => answerText(lastAssistant(page)).catch(() => ''), t => t.includes('s03'), { what: 'some text' })
    await expect.poll(() => announced(page)).toBe('Answer started')
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Message')

    await page.keyboard.press('Escape')
    await waitForAssistantStatus(page, 'stopped', { timeoutMs: 5_000 })
    await expect.poll(() => stopButton(page).count()).toBe(0)
    await expect.poll(() => announced(page)).toBe('Answer stopped')
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Message')
    expect(await answerText(lastAssistant(page))).not.toContain('s200')
    expect(env.tp.problems).toEqual([])
  })

  it('Stop clicked puts the focus back in the composer; the composer grows with its text', async () => {
    const page = await startSlowAnswer()
    await stopButton(page).click()
    await waitForAssistantStatus(page, 'stopped', { timeoutMs: 5_000 })
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Message')

    const box = composer(page)
    const oneLine = (await box.boundingBox())!.height
    await box.fill('one\ntwo\nthree\nfour')
    await expect.poll(async () => (await box.boundingBox())!.height).toBeGreaterThan(oneLine * 2)
    // Capped: a long text scrolls inside it instead of pushing the page away.
    await box.fill(Array.from({ length: 60 }, (_, i) => `line ${i}`).join('\n'))
    await expect.poll(async () => (await box.boundingBox())!.height).toBeLessThanOrEqual(241)
    await box.fill('')
    await expect.poll(async () => (await box.boundingBox())!.height).toBe(oneLine)
  })

  it('scrolling up while an answer streams shows "Jump to latest", which brings the end back', async () => {
    env.tp = await openPage(env.browser, env.flume.url, { height: 600 })
    const { page } = env.tp
    env.fake.enqueue({ chunks: numberedWords(400, 'line').map(w => `${w}\n\n`), delayMs: 25 })
    await visit(page, '/')
    await sendMessage(page, 'Many lines')
    await waitForChatPage(page)
    const thread = page.locator('.thread')
    await until(() => thread.evaluate(el => el.scrollHeight > el.clientHeight * 2), v => v, { what: 'a long thread' })
    const jump = page.getByRole('button', { name: 'Jump to latest' })
    expect(await jump.count()).toBe(0)
    await thread.hover()
    await page.mouse.wheel(0, -600)
    await jump.waitFor()
    const distance = () => thread.evaluate(el => el.scrollHeight - el.scrollTop - el.clientHeight)
    await expect.poll(distance).toBeGreaterThan(100)
    await jump.click()
    await expect.poll(distance).toBeLessThan(48)
    await expect.poll(() => jump.count()).toBe(0)
    await waitForAssistantStatus(page, 'done', { timeoutMs: 20_000 })
    await expect.poll(() => announced(page)).toBe('Answer finished')
  })

  it('an example prompt on the empty home page starts a chat with it', async () => {
    env.tp = await openPage(env.browser, env.flume.url)
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Here', ' is', ' a', ' plan.'] })
    await visit(page, '/')
    const examples = page.getByRole('list', { name: 'Example prompts' }).getByRole('button')
    expect(await examples.count()).toBeGreaterThanOrEqual(3)
    const prompt = (await examples.first().innerText()).trim()
    await examples.first().click()
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(await page.locator('article[data-role="user"]').first().innerText()).toContain(prompt)
    expect(await answerText(lastAssistant(page))).toContain('Here is a plan.')
  })
})

describe('375 px wide', () => {
  it('works on a phone: nothing overflows sideways, the drawer opens and closes, chatting works', async () => {
    env.tp = await openPage(env.browser, env.flume.url, { width: 375, height: 740 })
    const { page } = env.tp
    await visit(page, '/')
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(await overflow()).toBe(0)
    const theme = (await themeButton(page).boundingBox())!
    const menu = (await page.getByRole('button', { name: 'Chats' }).boundingBox())!
    expect(theme.x + theme.width).toBeLessThanOrEqual(375)
    expect(theme.y).toBeLessThan(menu.y + menu.height)

    env.fake.enqueue({ chunks: ['Short', ' answer', ' here.'] })
    await sendMessage(page, 'Hello from a phone')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(await overflow()).toBe(0)
    const box = (await composer(page).boundingBox())!
    expect(box.x).toBeGreaterThanOrEqual(0)
    expect(box.x + box.width).toBeLessThanOrEqual(375)

    await page.getByRole('button', { name: 'Chats' }).click()
    await expect.poll(() => page.locator('#chat-list').evaluate(el => el.getBoundingClientRect().left)).toBeGreaterThanOrEqual(0)
    await page.keyboard.press('Escape')
    await expect.poll(() => page.getByRole('button', { name: 'Chats' }).getAttribute('aria-expanded')).toBe('false')
    // That Escape closed the drawer, and stopped nothing.
    expect(await lastAssistant(page).getAttribute('data-status')).toBe('done')
  })
})

describe('screenshots', () => {
  it('home and chat at 1280 and 375 px, light and dark', async () => {
    ensureScreenshotDir()
    const answer = '## A short plan\n\nHere are **three** steps:\n\n1. Read the docs\n2. Write `code`\n3. Ship it\n\n```js\nconsole.log("hi")\n```\n\nThat is all.'
    for (const scheme of ['light', 'dark'] as const) {
      for (const width of [1280, 375]) {
        env.tp = await openPage(env.browser, env.flume.url, { width, height: width > 400 ? 800 : 740 })
        const { page } = env.tp
        await page.emulateMedia({ colorScheme: scheme })
        await visit(page, '/')
        expect(await htmlTheme(page)).toBe(scheme)
        await page.screenshot({ path: resolve(screenshotDir, `home-${width}-${scheme}.png`) })
        env.fake.enqueue({ chunks: answer.match(/[\s\S]{1,12}/g)! })
        await sendMessage(page, 'How do I get started?')
        await waitForChatPage(page)
        await waitForAssistantStatus(page, 'done')
        await page.locator('pre').first().waitFor()
        await page.screenshot({ path: resolve(screenshotDir, `chat-${width}-${scheme}.png`) })
        await env.tp.close()
      }
    }
  })
})
