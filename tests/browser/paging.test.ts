/**
 * A heavy history in the web UI (docs/paging.md): the sidebar shows the first page of chats and
 * loads the next ones as it is scrolled; a chat of more than 100 messages opens at its newest and
 * puts the earlier ones in front as the reader scrolls up, keeping what they were reading in place.
 */
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import type { Chat } from '../../shared/schemas'
import { articles, fetchChat, listChats, sidebar, sidebarChatLinks, until, visit, watchRequests, useBrowserEnv } from './support'

const env = useBrowserEnv({ FLUME_TITLES: 'off' })

const pad = (n: number) => String(n).padStart(3, '0')

describe('paging in the web UI', () => {
  it('loads more chats into the sidebar as it is scrolled, in order, each once', async () => {
    const { page } = env.tp
    for (let i = 1; i <= 120; i++) {
      const res = await page.request.post('/api/chats', { data: { title: `Paged chat ${pad(i)}` } })
      expect(res.status()).toBe(201)
    }
    const all = await listChats(page)
    const lists = watchRequests(page, /^\/api\/chats$/)
    await visit(page, '/')
    const links = sidebarChatLinks(page)
    // The first page came with the server render.
    expect(await links.count()).toBe(50)
    expect(lists).toEqual([])

    const scroller = sidebar(page).locator('.sidebar-groups')
    const scrollToEnd = () => scroller.evaluate((el) => {
      el.scrollTop = el.scrollHeight
    })
    await scrollToEnd()
    await expect.poll(() => links.count()).toBeGreaterThanOrEqual(100)
    await scrollToEnd()
    await expect.poll(() => links.count()).toBe(120)
    expect(await links.allInnerTexts()).toEqual(all.map(c => c.title))
    // Every chat is loaded: scrolling further asks for nothing more.
    const asked = lists.length
    expect(asked).toBe(2)
    await scrollToEnd()
    await page.waitForTimeout(300)
    expect(lists.length).toBe(asked)
    expect(env.tp.problems).toEqual([])
  })

  it('opens a long chat at its newest 100 messages and loads the earlier ones at the top, keeping the place', async () => {
    const { page } = env.tp
    const created = await page.request.post('/api/chats', { data: { title: 'A long chat' } })
    const chat = await created.json() as Chat
    // 61 questions and their answers: 122 messages.
    for (let i = 1; i <= 61; i++) {
      env.fake.enqueue({ chunks: [`Answer ${pad(i)}: `, 'a few words to give it some height.'] })
      const sent = await page.request.post(`/api/chats/${chat.id}/messages`, { data: { content: `Question ${pad(i)}` } })
      expect(sent.status()).toBe(202)
      await until(() => fetchChat(page, chat.id), c => c.messages.at(-1)?.status === 'done', { what: `answer ${i}` })
    }

    await visit(page, `/chat/${chat.id}`)
    await expect.poll(() => articles(page).count()).toBe(100)
    expect(await articles(page).first().innerText()).toContain('Question 012')

    // Scroll up near the top: the earlier 22 are put in front; the message that was under the
    // reader's eyes stays where it was on screen.
    const anchor = await readingPoint(page, 200)
    await expect.poll(() => articles(page).count()).toBe(122)
    await page.waitForTimeout(100)
    const after = await page.evaluate(text => [...document.querySelectorAll('article[data-role]')]
      .find(a => (a as HTMLElement).innerText.includes(text))!.getBoundingClientRect().top, anchor.text)
    expect(Math.abs(after - anchor.top), `${anchor.text} moved from ${anchor.top} to ${after}`).toBeLessThan(4)
    expect(await articles(page).first().innerText()).toContain('Question 001')
    // Everything is loaded: no button for more.
    expect(await page.getByRole('button', { name: 'Load earlier messages' }).count()).toBe(0)
    expect(env.tp.problems).toEqual([])
  })
})

/**
 * Scrolls the thread to `scrollTop` and answers which message is at the middle of the thread's
 * view (its question or answer number) and where its top is on screen.
 */
async function readingPoint(page: Page, scrollTop: number): Promise<{ text: string, top: number }> {
  return await page.evaluate(async (scrollTop) => {
    const thread = document.querySelector('.thread') as HTMLElement
    thread.scrollTop = scrollTop
    const box = thread.getBoundingClientRect()
    const middle = box.top + box.height / 2
    const article = [...document.querySelectorAll<HTMLElement>('article[data-role]')].find(a => a.getBoundingClientRect().bottom >= middle)!
    const text = /(?:Question|Answer) \d{3}/.exec(article.innerText)![0]
    return { text, top: article.getBoundingClientRect().top }
  }, scrollTop)
}
