/**
 * The README's picture: a chat with a few others in the sidebar (one still answering), an answer
 * with a table, highlighted code and a formula. It goes to tests/.artifacts/screenshots/readme.png
 * on every run; `npm run screenshot` also writes it over docs/screenshot.png.
 */
import { copyFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from '../support/paths'
import { createGate } from '../support/fake-openai'
import { ensureScreenshotDir, screenshotDir, seedChat, sendMessage, sidebar, sidebarChatLinks, visit, waitForAssistantStatus, waitForChatPage, useBrowserEnv } from './support'

const env = useBrowserEnv()

const ANSWER = `Here is a small **debounce** helper, and how its delay compares:

\`\`\`ts
export function debounce<T extends unknown[]>(fn: (...args: T) => void, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined
  return (...args: T) => {
    clearTimeout(timer)
    timer = setTimeout(() => fn(...args), ms)
  }
}
\`\`\`

| delay | calls for 10 keystrokes in 1 s |
|---|---|
| 50 ms | about 10 |
| 300 ms | 1 |

With keystrokes every $t$ ms and a delay $d > t$, a burst of $n$ keys calls \`fn\` once, after
$$T = (n - 1)\\,t + d$$
milliseconds.`

describe('README screenshot', () => {
  it('a chat with code, a table and math, and a sidebar with an answer still being written', async () => {
    const { page } = env.tp
    for (const title of ['Plan a trip to Lisbon', 'Explain HTTPS in plain words', 'Summarise remote work pros and cons']) {
      await seedChat(page, title, ['Hi'])
    }
    // One chat keeps answering while the picture is taken: its dot shows in the sidebar.
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Still ', 'writing'], pauseAfter: 1, until: gate.promise })
    const haiku = await seedChat(page, 'Write a haiku about rivers')
    await page.request.post(`/api/chats/${haiku.id}/messages`, { data: { content: 'A haiku, please' } })

    env.fake.enqueue({ chunks: ANSWER.match(/[\s\S]{1,16}/g)! })
    await visit(page, '/')
    await sendMessage(page, 'How do I debounce a search box in TypeScript?')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    await page.locator('.katex-display').waitFor()
    await page.locator('pre.shiki').first().waitFor()
    await sidebar(page).locator('.item-streaming').first().waitFor()
    expect(await sidebarChatLinks(page).count()).toBe(5)

    ensureScreenshotDir()
    const shot = resolve(screenshotDir, 'readme.png')
    await page.screenshot({ path: shot })
    if (process.env.FLUME_UPDATE_SCREENSHOT === '1') copyFileSync(shot, resolve(root, 'docs/screenshot.png'))
    gate.open()
  })
})
