/**
 * Math: KaTeX (script, stylesheet, fonts) is fetched only once an answer holds a formula; until
 * then the formula shows as its TeX source, then it is typeset, and it follows the theme.
 */
import { resolve } from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import {
  ensureScreenshotDir,
  lastAssistant,
  screenshotDir,
  sendMessage,
  until,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
  waitForHydration,
  pieces,
  useBrowserEnv,
  watchRequests,
} from './support'

const env = useBrowserEnv()

/** The URLs among `urls` that are a piece of KaTeX: its code, its stylesheet or a font. */
async function katexAssets(page: Page, urls: string[]): Promise<string[]> {
  const found: string[] = []
  for (const url of new Set(urls)) {
    if (/KaTeX_/.test(url)) {
      found.push(url)
      continue
    }
    if (/\.(?:woff2?|ttf)$/.test(url)) continue
    const body = await (await page.request.get(url)).text()
    // KaTeX's code, or its stylesheet (the page's own CSS names .katex classes, not its fonts).
    if (body.includes('KaTeX parse error') || /font-family:\s*KaTeX_/.test(body)) found.push(url)
  }
  return found
}

const INTRO = 'The area of a circle of radius $r$ is $A = \\pi r^2$, and it costs $5 to $10 to print.\n\n'
const DISPLAY = '$$\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n$$\n'

describe('math', () => {
  it('fetches KaTeX only once math appears, shows an open $$ block as source, then typesets it', async () => {
    const { page } = env.tp
    const assets = watchRequests(page, /\.(?:m?js|css|woff2?|ttf)$/)
    env.fake.enqueue({ chunks: pieces('No math here: it costs $5 and $10, `echo $HOME`, and **bold**.', 6), delayMs: 2 })
    await visit(page, '/')
    await sendMessage(page, 'Anything without math')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(await lastAssistant(page).innerText()).toContain('it costs $5 and $10')
    expect(await katexAssets(page, assets)).toEqual([])

    // The second answer pauses inside an open display block, before its closing `$$`.
    const gate = createGate()
    const open = DISPLAY.slice(0, -3)
    env.fake.enqueue({
      chunks: [...pieces(INTRO, 5), ...pieces(open, 5), '$$\n', '\nThat is all.'],
      delayMs: 2,
      pauseAfter: pieces(INTRO, 5).length + pieces(open, 5).length,
      until: gate.promise,
    })
    const seenBefore = assets.length
    await sendMessage(page, 'Some math please')
    const answer = lastAssistant(page)
    await until(() => answer.innerText(), t => t.includes('\\int_0^1'), { what: 'the open block' })
    // The inline formulas are typeset (KaTeX came with them); the open block is still source.
    await until(() => answer.locator('.math-inline .katex').count(), n => n === 2, { what: 'inline formulas' })
    expect(await katexAssets(page, assets.slice(seenBefore))).not.toEqual([])
    await page.waitForTimeout(300)
    expect(await answer.locator('.math-display .katex').count()).toBe(0)
    expect(await answer.innerText()).toContain('$$')

    gate.open()
    await waitForAssistantStatus(page, 'done')
    await until(() => answer.locator('.math-display .katex-display').count(), n => n === 1, { what: 'the display formula' })
    const text = await answer.locator('.markdown').innerText()
    expect(text).not.toContain('$$')
    expect(text).toContain('costs $5 to $10 to print')
    expect(text).toContain('That is all.')
    // KaTeX's stylesheet is applied: the display formula is centred as a block.
    expect(await answer.locator('.katex-display').first().evaluate(el => getComputedStyle(el).display)).toBe('block')
    // Its fonts arrive too (only now).
    await until(() => page.evaluate(() => document.fonts.check('16px KaTeX_Main')), ok => ok, { what: 'KaTeX fonts' })

    // Reloaded, the answer comes typeset from the server and hydrates as it is.
    const html = async () => (await lastAssistant(page).innerHTML()).replace(/<!--[\s\S]*?-->/g, '').replace(/ data-v-[\w-]+(="[^"]*")?/g, '')
    const typeset = await html()
    // The server sends the answer typeset, with KaTeX's stylesheet linked from the page itself,
    // so the formulas look right before any script runs.
    const served = await (await page.request.get(page.url())).text()
    expect(served).toContain('class="katex')
    // (Attributes in any order: nuxt-security puts its nonce and integrity first.)
    expect(served).toMatch(/<link\b[^>]*\brel="stylesheet"[^>]*\bhref="[^"]*math-katex[^"]*\.css"/)
    await page.reload()
    await waitForHydration(page)
    expect(await lastAssistant(page).locator('.math-display .katex-display').count()).toBe(1)
    expect(await html()).toBe(typeset)
    expect(env.tp.problems).toEqual([])
  })

  it('follows the light and dark themes, and a bad formula does not break the answer', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: pieces(`Good: $e^{i\\pi} + 1 = 0$. Bad: $\\frac{1}{$ and $\\href{javascript:alert(1)}{x}$.\n\n${DISPLAY}\nEnd.`, 7), delayMs: 2 })
    await visit(page, '/')
    await sendMessage(page, 'Math in both themes')
    await waitForAssistantStatus(page, 'done')
    const answer = lastAssistant(page)
    await until(() => answer.locator('.katex').count(), n => n >= 2, { what: 'typeset formulas' })
    expect(await answer.locator('a[href^="javascript"], .katex a').count()).toBe(0)
    expect(await answer.innerText()).toContain('End.')

    const colors = () => answer.evaluate((el) => {
      const text = getComputedStyle(el.querySelector('.markdown p')!).color
      const formula = getComputedStyle(el.querySelector('.math-display .katex .mord')!).color
      return { text, formula }
    })
    await page.emulateMedia({ colorScheme: 'light' })
    const light = await colors()
    expect(light.formula).toBe(light.text)
    ensureScreenshotDir()
    await answer.screenshot({ path: resolve(screenshotDir, 'math-light.png') })
    await page.emulateMedia({ colorScheme: 'dark' })
    const dark = await until(colors, c => c.text !== light.text, { what: 'the dark theme', timeoutMs: 3000 })
    expect(dark.formula).toBe(dark.text)
    expect(dark.formula).not.toBe(light.formula)
    await answer.screenshot({ path: resolve(screenshotDir, 'math-dark.png') })
    expect(env.tp.problems).toEqual([])
  })
})
