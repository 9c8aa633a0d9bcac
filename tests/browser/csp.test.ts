/**
 * The Content-Security-Policy holds for every kind of page: the home page, a chat whose answer
 * has highlighted code and typeset math (as it streams in and as the server renders it after a
 * reload), the chat settings and the theme switch, and a chat that does not exist. Any
 * violation Chromium reports fails the test.
 */
import type { Response } from 'playwright-core'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  lastAssistant,
  pieces,
  sendMessage,
  until,
  useBrowserEnv,
  waitForAssistantStatus,
  waitForChatPage,
  waitForHydration,
  watchCsp,
} from './support'

const env = useBrowserEnv()

const ANSWER = [
  'Here is the code, and the formula $A = \\pi r^2$:',
  '',
  '```ts',
  'const area = (r: number): number => Math.PI * r ** 2',
  '```',
  '',
  '$$',
  '\\int_0^1 x^2\\,dx = \\frac{1}{3}',
  '$$',
  '',
  'That is all.',
].join('\n')

let violations: string[]

/** The page's policy, as the server sent it with the document. */
function policyOf(response: Response | null): string {
  const csp = response?.headers()['content-security-policy']
  expect(csp, 'a Content-Security-Policy header').toBeTruthy()
  return csp!
}

function expectStrict(csp: string) {
  const directives = new Map(csp.split(';').map(d => d.trim()).filter(Boolean).map((d) => {
    const [name, ...sources] = d.split(/\s+/)
    return [name!, sources]
  }))
  expect(directives.get('default-src')).toEqual(['\'none\''])
  expect(directives.get('frame-ancestors')).toEqual(['\'none\''])
  expect(directives.get('object-src')).toEqual(['\'none\''])
  expect(directives.get('script-src')).toContain('\'strict-dynamic\'')
  expect(directives.get('script-src')!.some(s => s.startsWith('\'nonce-'))).toBe(true)
  for (const sources of directives.values()) expect(sources).not.toContain('\'unsafe-eval\'')
  for (const name of ['script-src', 'script-src-elem', 'script-src-attr', 'default-src']) {
    expect(directives.get(name) ?? [], name).not.toContain('\'unsafe-inline\'')
  }
}

describe('content security policy', () => {
  beforeEach(async () => {
    violations = await watchCsp(env.tp.page)
  })

  it('the home page, a chat with code and math, its settings and the theme switch run without a violation', async () => {
    const { page } = env.tp
    const home = await page.goto('/')
    await waitForHydration(page)
    expectStrict(policyOf(home))

    // A new chat, its answer with code and math streamed in: shiki and KaTeX load and render.
    env.fake.enqueue({ chunks: pieces(ANSWER, 9), delayMs: 2 })
    await sendMessage(page, 'Code and math, please')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const answer = lastAssistant(page)
    await until(() => answer.locator('pre.shiki').count(), n => n === 1, { what: 'highlighted code' })
    await until(() => answer.locator('.math-display .katex-display').count(), n => n === 1, { what: 'typeset display math' })
    await until(() => page.evaluate(() => document.fonts.check('16px KaTeX_Main')), ok => ok, { what: 'KaTeX fonts' })

    // Served by the server with both rendered (KaTeX's stylesheet linked from the page), then hydrated.
    const chat = await page.reload()
    await waitForHydration(page)
    expectStrict(policyOf(chat))
    expect(await lastAssistant(page).locator('pre.shiki').count()).toBe(1)
    expect(await lastAssistant(page).locator('.math-display .katex-display').count()).toBe(1)

    // The chat settings: open, edit, save.
    await page.getByRole('button', { name: /^Chat settings/ }).click()
    await page.getByRole('textbox', { name: 'System prompt' }).fill('Be brief.')
    await page.getByRole('checkbox', { name: 'Model default' }).uncheck()
    await page.getByRole('slider', { name: 'Temperature' }).fill('0.5')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByRole('textbox', { name: 'System prompt' }).waitFor({ state: 'detached' })

    // The theme switch (useColorMode adds a <style> for a moment), all the way round.
    const toggle = page.getByRole('button', { name: /^Theme:/ })
    for (const next of ['light', 'dark', 'system']) {
      await toggle.click()
      await until(() => toggle.innerText(), t => t.includes(next), { what: `the ${next} theme` })
    }

    // Back home through the app, and a follow-up question in the chat.
    await page.getByRole('link', { name: 'New chat' }).first().click()
    await page.waitForURL(/\/$/)
    await page.goBack()
    await waitForChatPage(page)
    // The chat's page, not the home page still shown while it loads: the question goes to this chat.
    await lastAssistant(page).waitFor()
    env.fake.enqueue({ chunks: pieces('Again: $e^{i\\pi} + 1 = 0$ and\n\n```py\nprint("hi")\n```\n', 5), delayMs: 2 })
    await sendMessage(page, 'Once more')
    await waitForAssistantStatus(page, 'done')
    await until(() => lastAssistant(page).locator('pre.shiki').count(), n => n === 1, { what: 'highlighted python' })

    await page.waitForTimeout(300)
    expect(violations).toEqual([])
    expect(env.tp.problems).toEqual([])
  })

  it('a chat that does not exist and an unknown page render under the policy too', async () => {
    const { page } = env.tp
    const missing = await page.goto('/chat/no-such-chat')
    await waitForHydration(page)
    expectStrict(policyOf(missing))
    await page.getByRole('heading', { name: 'Chat not found' }).waitFor()

    const unknown = await page.goto('/no/such/page')
    expect(unknown?.status()).toBe(404)
    expectStrict(policyOf(unknown))
    await page.waitForLoadState('networkidle')
    expect(violations).toEqual([])
  })
})
