/**
 * A person who hits the abuse limits (docs/abuse-limits.md) in the real UI: told in words when
 * to try again, with the question still in the composer and nothing added to the chat.
 */
import { describe, expect, it } from 'vitest'
import { articles, composer, listChats, sendMessage, until, useBrowserEnv, visit, waitForAssistantStatus, waitForChatPage } from './support'

const env = useBrowserEnv({
  FLUME_RATE_LIMITS: 'on',
  FLUME_LIMIT_ANSWERS_PER_MINUTE: '1',
  FLUME_LIMIT_ANSWERS_BURST: '1',
})

describe('abuse limits in the UI', () => {
  it('a refused question says when to try again and stays in the composer; nothing is stored', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['First ', 'answer.'] })
    env.fake.enqueue({ chunks: ['Second ', 'answer.'] })
    await visit(page, '/')
    await sendMessage(page, 'first question')
    const chatId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    await sendMessage(page, 'second question')
    await waitForAssistantStatus(page, 'done', { index: 1 })

    // The third, in the same chat: refused.
    await sendMessage(page, 'third question')
    const alert = page.getByRole('alert')
    await until(() => alert.textContent().catch(() => ''), text => /Try again in \d+ seconds\./.test(text ?? ''), { what: 'the refusal in words' })
    expect(await alert.textContent()).toMatch(/faster than this server allows/)
    expect(await composer(page).inputValue()).toBe('third question')
    expect(await articles(page).count()).toBe(4)
    const stored = await page.evaluate(async id => (await (await fetch(`/api/chats/${id}`)).json()).messages.length, chatId)
    expect(stored).toBe(4)

    // A new chat from the home page: the same.
    await visit(page, '/')
    await sendMessage(page, 'a new chat')
    await until(() => page.getByRole('alert').textContent().catch(() => ''), text => /Try again in \d+ seconds\./.test(text ?? ''), { what: 'the refusal on the home page' })
    expect(await composer(page).inputValue()).toBe('a new chat')
    expect(await listChats(page)).toHaveLength(1)
    expect(env.tp.problems.filter(problem => !/429/.test(problem))).toEqual([])
  })
})
