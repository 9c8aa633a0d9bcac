/**
 * Model output is rendered as markdown, and it is untrusted: no raw HTML, no script URLs.
 * Also takes the screenshots of the chat screen (1280 px and 375 px wide).
 */
import { resolve } from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import {
  answerText,
  ensureScreenshotDir,
  lastAssistant,
  lastUser,
  screenshotDir,
  sendMessage,
  until,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
  waitForHydration,
  pieces,
  useBrowserEnv,
} from './support'

const env = useBrowserEnv()

const MARKDOWN_ANSWER = [
  'Here is **bold text**, some `inline code` and a [link to the docs](https://example.com/docs).',
  '',
  '- first item',
  '- second item with **emphasis**',
  '- third item',
  '',
  '```js',
  'const answer = 42',
  'console.log(answer)',
  '```',
  '',
  'That is all.',
].join('\n')

/** Waits for running CSS transitions/animations and two frames, so a screenshot is stable. */
async function settle(page: Page) {
  await page.evaluate(async () => {
    await document.fonts.ready
    await Promise.all(document.getAnimations().map(a => a.finished.catch(() => {})))
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))
  })
}

/** Records, for the whole page life, any dangerous node that ever appears inside a message. */
async function watchForDangerousNodes(page: Page) {
  await page.evaluate(() => {
    const dangerous: string[] = []
    window.__dangerous = dangerous
    const check = (el: Element) => {
      if (!el.closest('article')) return
      const tag = el.tagName.toLowerCase()
      if (['img', 'script', 'iframe', 'object', 'embed', 'svg', 'math', 'form', 'style', 'link', 'meta', 'base'].includes(tag)) dangerous.push(`<${tag}>`)
      for (const attr of el.attributes) {
        if (/^on/i.test(attr.name)) dangerous.push(`${tag}[${attr.name}]`)
        if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(attr.name.toLowerCase()) && /^\s*(javascript|data|vbscript):/i.test(attr.value)) {
          dangerous.push(`${tag}[${attr.name}=${attr.value}]`)
        }
      }
    }
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes' && r.target instanceof Element) check(r.target)
        for (const n of r.addedNodes) {
          if (!(n instanceof Element)) continue
          check(n)
          n.querySelectorAll('*').forEach(check)
        }
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true })
  })
}

describe('markdown', () => {
  it('renders code blocks, lists, bold and safe links; screenshots at 1280 and 375 px', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: pieces(MARKDOWN_ANSWER, 7), delayMs: 5 })
    await visit(page, '/')
    await sendMessage(page, 'Show me some markdown, please')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const answer = lastAssistant(page)

    const code = answer.locator('pre > code')
    expect(await code.count()).toBe(1)
    expect((await code.innerText()).trimEnd()).toBe('const answer = 42\nconsole.log(answer)')
    const items = answer.locator('ul > li')
    expect(await items.allInnerTexts()).toEqual(['first item', 'second item with emphasis', 'third item'])
    expect(await answer.locator('strong').allInnerTexts()).toEqual(['bold text', 'emphasis'])
    expect(await answer.locator('code:not(pre code)').innerText()).toBe('inline code')

    const links = answer.locator('a[href]')
    expect(await links.count()).toBe(1)
    const link = links.first()
    expect(await link.getAttribute('href')).toBe('https://example.com/docs')
    expect(await link.innerText()).toBe('link to the docs')
    const rel = (await link.getAttribute('rel')) ?? ''
    expect(rel.split(/\s+/)).toContain('noopener')

    // No markdown syntax left over as text.
    const text = await answerText(answer)
    expect(text).not.toContain('**')
    expect(text).not.toContain('```')
    expect(text).not.toMatch(/^- /m)

    ensureScreenshotDir()
    await settle(page)
    await page.screenshot({ path: resolve(screenshotDir, 'chat-1280.png') })
    // A phone: load the chat afresh at 375 px (resizing would catch the sidebar mid-transition).
    await page.setViewportSize({ width: 375, height: 812 })
    await page.reload()
    await waitForHydration(page)
    await waitForAssistantStatus(page, 'done')
    await settle(page)
    await page.screenshot({ path: resolve(screenshotDir, 'chat-375.png') })
    // Nothing sticks out sideways on a phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    // The composer stays reachable at 375 px.
    expect(await page.getByRole('textbox', { name: 'Message' }).isVisible()).toBe(true)
    // The chats menu opens over the chat on a phone, takes the focus, and tapping beside it or
    // Escape closes it with the focus back on the menu button.
    const menu = page.getByRole('button', { name: 'Chats' })
    expect(await menu.isVisible()).toBe(true)
    const focusInList = () => page.evaluate(() => !!document.activeElement?.closest('#chat-list'))
    await menu.click()
    await until(() => menu.getAttribute('aria-expanded'), v => v === 'true', { what: 'the menu to open' })
    await until(focusInList, v => v, { what: 'the focus to move into the chat list' })
    await settle(page)
    await page.screenshot({ path: resolve(screenshotDir, 'chat-375-menu.png') })
    await page.mouse.click(360, 400)
    await until(() => menu.getAttribute('aria-expanded'), v => v === 'false', { what: 'the menu to close' })
    await menu.click()
    await until(focusInList, v => v, { what: 'the focus to move into the chat list' })
    await page.keyboard.press('Escape')
    await until(() => menu.getAttribute('aria-expanded'), v => v === 'false', { what: 'Escape to close the menu' })
    expect(await menu.evaluate(el => el === document.activeElement)).toBe(true)
    expect(env.tp.problems).toEqual([])
  })
})

describe('incremental rendering', () => {
  it('an answer streamed in 3-character chunks renders exactly as the same text rendered at once', async () => {
    const { page } = env.tp
    const md = [
      '# Title', '', 'Some *emphasis* and a table:', '', '| a | b |', '|---|---|', '| 1 | 2 |', '',
      '1. one', '', '2. two', '', '   ```py', '   print(1)', '', '   print(2)', '   ```', '', '3. three', '',
      '> quote', 'lazy continuation', '', 'Setext heading', '===', '', '```', 'code with a blank line', '', 'inside', '```', '',
      '- a', '  - nested', '- b', '', 'The end.',
    ].join('\n')
    env.fake.enqueue({ chunks: pieces(md, 3), delayMs: 2 })
    await visit(page, '/')
    await sendMessage(page, 'Some tricky markdown')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const html = async () => (await lastAssistant(page).innerHTML()).replace(/<!--[\s\S]*?-->/g, '').replace(/ data-v-[\w-]+(="[^"]*")?/g, '')
    // The py block is coloured once its grammar has loaded (async): wait for it.
    await until(() => lastAssistant(page).locator('pre.shiki').count(), n => n === 1, { what: 'the py block to be highlighted' })
    const streamed = await html()
    expect(await lastAssistant(page).locator('h1').allInnerTexts()).toEqual(['Title', 'Setext heading'])
    expect(await lastAssistant(page).locator('table td').allInnerTexts()).toEqual(['1', '2'])
    expect(await lastAssistant(page).locator('ol > li').count()).toBe(3)
    expect(await lastAssistant(page).locator('ol pre > code').innerText()).toBe('print(1)\n\nprint(2)\n')
    expect(await lastAssistant(page).locator('ul ul > li').allInnerTexts()).toEqual(['nested'])
    // A fresh page renders the stored text in one go: the result must be the same.
    await page.reload()
    await waitForHydration(page)
    await waitForAssistantStatus(page, 'done')
    expect(await html()).toBe(streamed)
  })
})

describe('a long list', () => {
  /** The top-level lists Chromium's accessibility tree has in the answer: each item's marker and text. */
  async function listsAsAnnounced(page: Page, firstText: string[]) {
    const cdp = await page.context().newCDPSession(page)
    const { nodes } = await cdp.send('Accessibility.getFullAXTree')
    const byId = new Map(nodes.map(n => [n.nodeId, n]))
    const role = (n: typeof nodes[number]) => (n.ignored ? '' : String(n.role?.value))
    /** Children as a screen reader sees them: ignored nodes (the parts, role="none") are seen through. */
    const children = (n: typeof nodes[number]): typeof nodes => (n.childIds ?? []).flatMap((id) => {
      const child = byId.get(id)
      return !child ? [] : role(child) ? [child] : children(child)
    })
    const texts = (n: typeof nodes[number]): string[] => (role(n) === 'StaticText' ? [String(n.name?.value)] : children(n).flatMap(texts))
    const lists = nodes.filter(n => role(n) === 'list' && firstText.some(t => texts(n).join('').includes(t)))
    const nested = new Set(lists.flatMap(l => children(l).flatMap(li => children(li)).filter(n => role(n) === 'list').map(n => n.nodeId)))
    return lists.filter(l => !nested.has(l.nodeId) && texts(l).length).map(l => children(l).map((li) => {
      expect(role(li)).toBe('listitem')
      const [marker, ...rest] = texts(li)
      return `${marker}${rest[0]}`
    }))
  }

  it('streams in parts that look exactly like one list and that a screen reader reads as one', async () => {
    const { page } = env.tp
    const indent = (n: number) => ' '.repeat(`${n}. `.length)
    // Numbered from 3; nested lists in the items that end and start the parts (of 32 items).
    const ordered = Array.from({ length: 70 }, (_, i) => {
      const n = i + 3
      return [31, 32, 63].includes(i) ? `${n}. step ${n} has *parts*\n${indent(n)}- nested ${n}\n${indent(n)}- more ${n}` : `${n}. step ${n} of the plan`
    })
    // Loose (a paragraph per item); the 32nd item ends with a code block, whose margin meets the next part.
    const loose = Array.from({ length: 40 }, (_, i) => (i === 31 ? `- point ${i}\n\n  \`\`\`js\n  const n = ${i}\n  \`\`\`` : `- point ${i} in a loose list`))
    const md = ['Steps:', '', ...ordered, '', 'Between the lists.', '', loose.join('\n\n'), '', 'The end.'].join('\n')
    env.fake.enqueue({ chunks: pieces(md, 7), delayMs: 1 })
    await visit(page, '/')
    await sendMessage(page, 'A long list')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done', { timeoutMs: 30_000 })
    await until(() => lastAssistant(page).locator('pre.shiki').count(), n => n === 1, { what: 'the js block to be highlighted' })

    const [numbered, bullets] = await listsAsAnnounced(page, ['step 3 ', 'point 0 '])
    expect(numbered).toEqual(Array.from({ length: 70 }, (_, i) => `${i + 3}. step ${i + 3} ${[31, 32, 63].includes(i) ? 'has ' : 'of the plan'}`))
    expect(bullets).toHaveLength(40)
    expect(await lastAssistant(page).locator('[role="list"] > ol').evaluateAll(ols => ols.map(ol => ol.getAttribute('start')))).toEqual(['3', '35', '67'])

    // Each list laid out again as one plain <ol>/<ul> with the same items, beside it: every item
    // at the same place, the same height, and the same gap to the text after the list.
    const differences = await lastAssistant(page).evaluate((article) => {
      const markdown = article.querySelector<HTMLElement>('.markdown')!
      return [...markdown.querySelectorAll<HTMLElement>('.markdown-list')].map((list) => {
        const first = list.firstElementChild!
        const whole = document.createElement(first.tagName)
        if (first.hasAttribute('start')) whole.setAttribute('start', first.getAttribute('start')!)
        const items = [...list.querySelectorAll<HTMLElement>(':scope > * > li')]
        for (const li of items) whole.insertAdjacentHTML('beforeend', `<li>${li.innerHTML}</li>`)
        const box = document.createElement('div')
        box.style.cssText = `position: absolute; visibility: hidden; width: ${list.getBoundingClientRect().width}px`
        box.append(whole, document.createElement('p'))
        markdown.append(box)
        const top = (el: Element, from: Element) => el.getBoundingClientRect().top - from.getBoundingClientRect().top
        const next = list.parentElement!.nextElementSibling!.firstElementChild!
        const diffs = [
          ...items.map((li, i) => Math.abs(top(li, list) - top(whole.children[i]!, whole))),
          ...items.map((li, i) => Math.abs(li.getBoundingClientRect().height - whole.children[i]!.getBoundingClientRect().height)),
          Math.abs(top(next, list) - top(box.lastElementChild!, whole)),
        ]
        box.remove()
        return { items: items.length, max: Math.max(...diffs) }
      })
    })
    expect(differences.map(d => d.items)).toEqual([70, 40])
    for (const d of differences) expect(d.max).toBeLessThan(0.05)
    expect(env.tp.problems).toEqual([])
  })
})

describe('untrusted output (XSS)', () => {
  const XSS_ANSWER = [
    'Careful: <img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script>',
    '',
    '[click](javascript:window.__xss=3) and <a href="javascript:window.__xss=4">x</a>',
    '',
    '[alert](javascript:alert(5)) [caps](JAVASCRIPT:window.__xss=6) [entity](&#106;avascript:window.__xss=7)',
    '',
    '<svg onload="window.__xss=8"></svg> <iframe src="javascript:window.__xss=9"></iframe>',
    '',
    '[data](data:text/html,<script>alert(10)</script>) <javascript:window.__xss=11>',
    '',
    '![pixel](x" onerror="window.__xss=12)',
  ].join('\n')

  it('model output cannot inject elements, handlers or script links', async () => {
    const { page, context } = env.tp
    // Links that open a new tab are closed at once (and external ones are blocked anyway).
    context.on('page', p => void p.close().catch(() => {}))
    env.fake.enqueue({ chunks: pieces(XSS_ANSWER, 5), delayMs: 3 })
    await visit(page, '/')
    await watchForDangerousNodes(page)
    await sendMessage(page, 'Say something dangerous')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const answer = lastAssistant(page)

    for (const selector of ['img', 'script', 'iframe', 'svg', 'object', 'embed']) {
      expect(await answer.locator(selector).count(), selector).toBe(0)
    }
    expect(await page.locator('a[href^="javascript:" i], a[href^="data:" i], a[href*="javascript:" i]').count()).toBe(0)
    expect(await answer.locator('[onerror], [onload], [onclick]').count()).toBe(0)
    // The dangerous text is shown as text, not silently dropped.
    const text = await answerText(answer)
    expect(text).toContain('Careful:')
    expect(text).toContain('onerror')
    expect(text).toContain('<script>')

    // Click every link the answer has (if any): none may run script.
    const links = await answer.locator('a').all()
    for (const link of links) await link.click({ timeout: 2_000 }).catch(() => {})
    await page.evaluate(() => new Promise(r => setTimeout(r, 100)))

    expect(await page.evaluate(() => window.__xss)).toBeUndefined()
    expect(await page.evaluate(() => window.__dangerous)).toEqual([])
    expect(env.tp.dialogs).toEqual([])
    expect(new URL(page.url()).pathname).toMatch(/^\/chat\//)

    // Still safe after a reload (server-rendered from the stored text).
    await page.reload()
    await waitForHydration(page)
    await waitForAssistantStatus(page, 'done')
    expect(await lastAssistant(page).locator('img, script, iframe, svg').count()).toBe(0)
    expect(await page.locator('a[href*="javascript:" i]').count()).toBe(0)
    expect(await page.evaluate(() => window.__xss)).toBeUndefined()
    expect(env.tp.dialogs).toEqual([])
  })

  it('a user message with HTML is shown as plain text', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Noted.'] })
    const html = '<b>bold?</b> <img src=x onerror="alert(1)"> <script>window.__xss=1</script>'
    await visit(page, '/')
    await watchForDangerousNodes(page)
    await sendMessage(page, html)
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const user = lastUser(page)
    expect((await user.locator('.message-user-text').innerText()).trim()).toBe(html)
    expect(await user.locator('b, img, script').count()).toBe(0)
    expect(await page.evaluate(() => window.__dangerous)).toEqual([])

    await page.reload()
    await waitForHydration(page)
    expect((await lastUser(page).locator('.message-user-text').innerText()).trim()).toBe(html)
    expect(await lastUser(page).locator('b, img, script').count()).toBe(0)
    expect(await page.evaluate(() => window.__xss)).toBeUndefined()
    expect(env.tp.dialogs).toEqual([])
  })
})
