/**
 * Code highlighting: shiki is fetched only once an answer holds a code block, a block is
 * coloured once complete, the colours follow the light/dark theme, and the copy button
 * copies the code.
 */
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import {
  lastAssistant,
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

/** Whether one of `urls` is a piece of shiki (its theme names appear only in the highlighter's chunks). */
async function anyShiki(page: Page, urls: string[]): Promise<boolean> {
  for (const url of new Set(urls)) {
    const body = await (await page.request.get(url)).text()
    if (body.includes('github-light') || body.includes('github-dark')) return true
  }
  return false
}

const TS_CODE = 'interface User {\n  name: string\n}\nconst answer: number = 42'

describe('code highlighting', () => {
  it('fetches shiki only once a code block appears, and colours the block once it is complete', async () => {
    const { page } = env.tp
    const scripts = watchRequests(page, /\.js$/)
    env.fake.enqueue({ chunks: pieces('No code here, just `inline code`, a list:\n\n- one\n- two\n\nand **bold**.', 6), delayMs: 2 })
    await visit(page, '/')
    await sendMessage(page, 'Anything without code')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(await anyShiki(page, scripts)).toBe(false)

    // The second answer pauses before its code block, then while the block is still open.
    const beforeCode = createGate()
    const intro = 'Here is some TypeScript:\n\n'
    const open = `\`\`\`ts\n${TS_CODE}\n`
    env.fake.enqueue({
      chunks: [...pieces(intro, 5), ...pieces(open, 5), '```\n', '\nThat is all.'],
      delayMs: 2,
      pauseAfter: pieces(intro, 5).length,
      until: beforeCode.promise,
    })
    const seenBefore = scripts.length
    await sendMessage(page, 'Show me TypeScript')
    const answer = lastAssistant(page)
    await until(() => answer.innerText(), t => t.includes('Here is some TypeScript'), { what: 'the intro' })
    await page.waitForTimeout(200)
    expect(await anyShiki(page, scripts.slice(seenBefore))).toBe(false)

    beforeCode.open()
    await until(() => answer.locator('pre code').count(), n => n === 1, { what: 'the code block' })
    await waitForAssistantStatus(page, 'done')
    await until(() => answer.locator('pre.shiki').count(), n => n === 1, { what: 'the block to be highlighted' })
    expect(await anyShiki(page, scripts.slice(seenBefore))).toBe(true)

    // Tokens are coloured spans; the text is the code, unchanged.
    const code = answer.locator('pre.shiki code')
    expect((await code.innerText()).trimEnd()).toBe(TS_CODE)
    const colors = await code.evaluate(el => [...el.querySelectorAll('span[style]')].map(s => getComputedStyle(s).color))
    expect(colors.length).toBeGreaterThan(5)
    expect(new Set(colors).size).toBeGreaterThan(2)

    // Reloaded, the answer comes highlighted from the server and hydrates as it is.
    const html = async () => (await lastAssistant(page).innerHTML()).replace(/<!--[\s\S]*?-->/g, '').replace(/ data-v-[\w-]+(="[^"]*")?/g, '')
    const highlighted = await html()
    await page.reload()
    await waitForHydration(page)
    expect(await lastAssistant(page).locator('pre.shiki').count()).toBe(1)
    expect(await html()).toBe(highlighted)
    expect(env.tp.problems).toEqual([])
  })

  it('shows a block plain while it is open and highlights it when its fence closes', async () => {
    const { page } = env.tp
    const gate = createGate()
    const open = `Code:\n\n\`\`\`python\ndef greet(name):\n    return name\n`
    env.fake.enqueue({ chunks: [...pieces(open, 4), '```\n\nBye.'], delayMs: 2, pauseAfter: pieces(open, 4).length, until: gate.promise })
    await visit(page, '/')
    await sendMessage(page, 'Python please')
    const answer = lastAssistant(page)
    await until(() => answer.locator('pre code').innerText().catch(() => ''), t => t.includes('return name'), { what: 'the open block' })
    // Give a highlighter every chance to (wrongly) colour the open block.
    await page.waitForTimeout(500)
    expect(await answer.locator('pre.shiki, pre span[style]').count()).toBe(0)
    gate.open()
    await waitForAssistantStatus(page, 'done')
    await until(() => answer.locator('pre.shiki span[style]').count(), n => n > 3, { what: 'coloured tokens' })
  })

  it('follows the light/dark scheme and the page theme, and copies the code', async () => {
    const { page, context } = env.tp
    await context.grantPermissions(['clipboard-read', 'clipboard-write'])
    env.fake.enqueue({ chunks: pieces(`Example:\n\n\`\`\`ts\n${TS_CODE}\n\`\`\`\n`, 8), delayMs: 2 })
    await visit(page, '/')
    await sendMessage(page, 'Colours')
    await waitForAssistantStatus(page, 'done')
    const answer = lastAssistant(page)
    await until(() => answer.locator('pre.shiki span[style]').count(), n => n > 3, { what: 'coloured tokens' })
    const token = answer.locator('pre.shiki span[style]').filter({ hasText: 'interface' }).first()
    const shown = () => token.evaluate((el) => {
      const style = getComputedStyle(el)
      const probe = (v: string) => {
        const p = document.createElement('span')
        p.style.color = v
        document.body.append(p)
        const c = getComputedStyle(p).color
        p.remove()
        return c
      }
      return { color: style.color, light: probe(style.getPropertyValue('--shiki-light')), dark: probe(style.getPropertyValue('--shiki-dark')) }
    })
    const light = await shown()
    expect(light.light).not.toBe(light.dark)
    expect(light.color).toBe(light.light)
    // The theme may be applied by a listener (a theme toggle following the system): poll.
    const colorBecomes = (want: string, what: string) =>
      until(async () => (await shown()).color, c => c === want, { what, timeoutMs: 3000, intervalMs: 25 })
    await page.emulateMedia({ colorScheme: 'dark' })
    await colorBecomes(light.dark, 'dark colours with a dark system')
    // A page theme set by the user wins over the system's.
    await page.evaluate(() => document.documentElement.setAttribute('data-theme', 'light'))
    await colorBecomes(light.light, 'light colours on a page set light')
    await page.emulateMedia({ colorScheme: 'light' })
    await page.waitForTimeout(100)
    await page.evaluate(() => document.documentElement.setAttribute('data-theme', 'dark'))
    await colorBecomes(light.dark, 'dark colours on a page set dark')

    const copy = answer.getByRole('button', { name: 'Copy code' })
    await copy.click()
    await until(() => copy.innerText(), t => t === 'Copied', { what: 'the Copied label' })
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(TS_CODE)
    await until(() => copy.innerText(), t => t === 'Copy', { what: 'the label to come back', timeoutMs: 5000 })
    expect(env.tp.problems).toEqual([])
  })
})
