/**
 * The sidebar follows answers as they are written: a chat whose answer is still streaming is
 * marked (here and in another tab of the same person), and the mark goes once it is done, in
 * the other tab too (it polls while something streams).
 */
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import { sendMessage, stopButton, visit, waitForAssistantStatus, waitForChatPage, useBrowserEnv } from './support'

// Titles off: the only upstream calls are the answers the test queues.
const env = useBrowserEnv({ FLUME_TITLES: 'off' })

/** The sidebar entry of the chat titled `title`: its link, and its "Answering" mark. */
function entry(page: Page, title: string) {
  const item = page.locator('#chat-list li').filter({ has: page.getByRole('link', { name: title, exact: true }) })
  return { item, mark: item.locator('.item-streaming') }
}

describe('sidebar: answers being written', () => {
  it('marks a streaming chat in every tab, and clears the mark when the answer ends', async () => {
    const gate = createGate()
    env.fake.enqueue({ chunks: ['Thinking', ' about', ' it', ' slowly.'], delayMs: 5, pauseAfter: 1, until: gate.promise })
    const { page, context } = env.tp
    await visit(page, '/')
    await sendMessage(page, 'Tell me something slowly')
    await waitForChatPage(page)
    await expect.poll(() => stopButton(page).isVisible()).toBe(true)

    // The open chat, while its answer streams.
    const here = entry(page, 'Tell me something slowly')
    await here.mark.waitFor({ state: 'visible' })
    expect(await here.mark.innerText()).toBe('Answering')
    const describedBy = await here.item.getByRole('link').getAttribute('aria-describedby')
    expect(describedBy).toBe(await here.mark.getAttribute('id'))

    // Another tab of the same person, on the home page.
    const other = await context.newPage()
    await visit(other, '/')
    const there = entry(other, 'Tell me something slowly')
    await there.mark.waitFor({ state: 'visible' })

    gate.open()
    await waitForAssistantStatus(page, 'done')
    await here.mark.waitFor({ state: 'detached', timeout: 5_000 })
    // Nothing in the other tab follows that answer: its list is polled while something streams.
    await there.mark.waitFor({ state: 'detached', timeout: 6_000 })
    await other.close()
  })

  it('shows no mark for chats whose answers are finished', async () => {
    const { page } = env.tp
    await visit(page, '/')
    await sendMessage(page, 'A quick one')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const { item, mark } = entry(page, 'A quick one')
    await item.waitFor({ state: 'visible' })
    await expect.poll(() => mark.count(), { timeout: 5_000 }).toBe(0)
    await page.reload()
    await item.waitFor({ state: 'visible' })
    expect(await mark.count()).toBe(0)
  })
})
