/**
 * With no LLM configured at all, the built-in demo model answers in the real UI.
 */
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFlume, type FlumeServer } from '../support/flume-server'
import {
  answerText,
  fetchChat,
  lastAssistant,
  launchBrowser,
  openPage,
  sampleAnswer,
  sendMessage,
  visit,
  waitForChatPage,
} from './support'

let flume: FlumeServer
let browser: Browser

beforeAll(async () => {
  // startFlume clears OPENAI_API_KEY and OPENAI_BASE_URL: the demo model. Slow enough that the
  // answer is still streaming once the chat page shows, even on a loaded machine (at 3 ms a token
  // it could be over before the page had hydrated).
  ;[flume, browser] = await Promise.all([startFlume({ FLUME_DEMO_DELAY_MS: '15' }), launchBrowser()])
})

afterAll(async () => {
  await browser?.close()
  await flume?.stop()
})

describe('demo model', () => {
  it('streams a markdown answer with a code block and a list that mentions OPENAI_API_KEY', async () => {
    const tp = await openPage(browser, flume.url)
    try {
      const { page } = tp
      await visit(page, '/')
      await sendMessage(page, 'What can you do?')
      const samples = await sampleAnswer(page, { intervalMs: 20, timeoutMs: 30_000 })
      const last = samples.at(-1)!
      expect(last.status, JSON.stringify(samples.slice(-3))).toBe('done')
      expect(samples.some(s => s.status === 'streaming' && s.length > 0 && s.length < last.length), 'seen partially').toBe(true)

      const answer = lastAssistant(page)
      expect(await answer.locator('pre > code').count()).toBeGreaterThanOrEqual(1)
      const listItems = answer.locator('ul > li, ol > li')
      expect(await listItems.count()).toBeGreaterThanOrEqual(2)
      expect((await listItems.allInnerTexts()).some(t => t.includes('OPENAI_API_KEY'))).toBe(true)
      const text = await answerText(answer)
      expect(text).toContain('OPENAI_API_KEY')
      expect(text).toContain('What can you do?')

      const chatId = await waitForChatPage(page)
      const stored = await fetchChat(page, chatId)
      const message = stored.messages.find(m => m.role === 'assistant')
      expect(message).toMatchObject({ status: 'done' })
      expect(message?.content).toContain('OPENAI_API_KEY')
      expect(tp.problems).toEqual([])
    }
    finally {
      await tp.close()
    }
  })
})
