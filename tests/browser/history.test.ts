/**
 * The history divider (docs/answer-limits.md): with a small FLUME_HISTORY_CHARS, the chat shows a
 * labelled divider right above the oldest message the model was sent with the latest question,
 * exactly where the server cut the conversation it sent upstream, and moves it as the chat grows.
 */
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { articles, seedChat, sendMessage, visit, waitForAssistantStatus, useBrowserEnv } from './support'

// Every message below is 19 characters: the budget holds the question and the two before it (57).
const env = useBrowserEnv({ FLUME_HISTORY_CHARS: '60', FLUME_TITLES: 'off' })
const LABEL = 'Earlier messages are not sent to the model'

/** Which question is right below the divider, and how many messages are above it (null: no divider). */
async function belowDivider(page: Page) {
  return await page.evaluate(() => {
    const cut = document.querySelector('[role="separator"]')
    if (!cut) return null
    const articles = [...document.querySelectorAll('article[data-role]')]
    const next = cut.nextElementSibling
    const text = next?.matches('article[data-role="user"]') ? (next as HTMLElement).innerText : ''
    return { first: ['Question number one', 'Question number two', 'Question number 3..'].find(q => text.includes(q)) ?? text, above: articles.filter(a => a.compareDocumentPosition(cut) & Node.DOCUMENT_POSITION_FOLLOWING).length }
  })
}

/** What the model was sent with the latest question, system prompt aside. */
function lastSent(): string[] {
  const messages = env.fake.completions.at(-1)!.body.messages as { role: string, content: string }[]
  return messages.filter(m => m.role !== 'system').map(m => m.content)
}

describe('the history divider', () => {
  it('shows where the model\'s view starts, as the server cut it, and follows new questions', async () => {
    const { page } = env.tp
    for (const answer of ['Answer number one..', 'Answer number two..']) env.fake.enqueue({ chunks: [answer.slice(0, 9), answer.slice(9)] })
    const chat = await seedChat(page, 'Budgeted', ['Question number one', 'Question number two'])
    await visit(page, `/chat/${chat.id}`)
    // Two exchanges: everything fits (Q2 + A1 + Q1 = 57 characters).
    expect(lastSent()).toEqual(['Question number one', 'Answer number one..', 'Question number two'])
    expect(await belowDivider(page)).toBeNull()

    env.fake.enqueue({ chunks: ['Answer number three'] })
    await sendMessage(page, 'Question number 3..')
    await expect.poll(() => articles(page, 'assistant').count()).toBe(3)
    await waitForAssistantStatus(page, 'done')
    expect(lastSent()).toEqual(['Question number two', 'Answer number two..', 'Question number 3..'])
    const divider = page.getByRole('separator', { name: LABEL })
    await divider.waitFor({ state: 'visible' })
    expect(await divider.innerText()).toBe(LABEL)
    expect(await belowDivider(page)).toEqual({ first: 'Question number two', above: 2 })

    // A reload shows it at the same place; the next question moves it down one exchange.
    await page.reload()
    await divider.waitFor({ state: 'visible' })
    expect(await belowDivider(page)).toEqual({ first: 'Question number two', above: 2 })
    env.fake.enqueue({ chunks: ['Answer number four.'] })
    await sendMessage(page, 'Question number 4..')
    await expect.poll(() => articles(page, 'assistant').count()).toBe(4)
    await waitForAssistantStatus(page, 'done')
    expect(lastSent()[0]).toBe('Question number 3..')
    await expect.poll(() => belowDivider(page)).toEqual({ first: 'Question number 3..', above: 4 })
    expect(env.tp.problems).toEqual([])
  })
})
