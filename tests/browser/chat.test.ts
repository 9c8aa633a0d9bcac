/**
 * Chatting in the real UI (built app, Chromium) against a scriptable fake OpenAI server:
 * streaming, reload mid-answer, stop, upstream errors and retry, the composer, the chats list.
 */
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  answerText,
  articles,
  composer,
  ensureScreenshotDir,
  fetchChat,
  lastAssistant,
  lastUser,
  listChats,
  numberedWords,
  openPage,
  sampleAnswer,
  screenshotDir,
  sendButton,
  sendMessage,
  startTcpProxy,
  stopButton,
  type TestPage,
  until,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
  useBrowserEnv,
} from './support'

const env = useBrowserEnv({ FLUME_SAVE_INTERVAL_MS: '200' })

/** Waits until the last assistant article shows rendered text matching `check`. */
async function waitForAnswerText(check: (text: string) => boolean, what: string, timeoutMs = 10_000) {
  return await until(() => answerText(lastAssistant(env.tp.page)).catch(() => ''), check, { timeoutMs, intervalMs: 20, what })
}

describe('streaming an answer', () => {
  it('shows the answer growing token by token, then done, equal to the upstream text', async () => {
    const { page } = env.tp
    const chunks = numberedWords(40, 'token')
    env.fake.enqueue({ chunks, delayMs: 40 })
    await visit(page, '/')
    await sendMessage(page, 'Tell me something long')

    const samples = await sampleAnswer(page, { intervalMs: 20, timeoutMs: 15_000 })
    const last = samples.at(-1)!
    expect(last.status, JSON.stringify(samples.slice(-5))).toBe('done')
    const expected = chunks.join('')
    expect(last.length).toBe(expected.length)

    // Seen streaming with part of the text, and the text only ever grew.
    const partial = samples.filter(s => s.status === 'streaming' && s.length > 0 && s.length < expected.length)
    expect(partial.length, `samples: ${JSON.stringify(samples)}`).toBeGreaterThanOrEqual(3)
    const distinctLengths = new Set(partial.map(s => s.length))
    expect(distinctLengths.size).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < samples.length; i++) {
      if (samples[i]!.count === samples[i - 1]!.count) expect(samples[i]!.length).toBeGreaterThanOrEqual(samples[i - 1]!.length)
    }

    expect(await answerText(lastAssistant(page))).toBe(expected)
    await expect.poll(() => stopButton(page).count()).toBe(0)
    expect(await lastUser(page).innerText()).toContain('Tell me something long')
    expect(await composer(page).inputValue()).toBe('')

    // The UI shows what the server stored, and what the fake was asked.
    const chatId = await waitForChatPage(page)
    const stored = await fetchChat(page, chatId)
    expect(stored.messages.map(m => [m.role, m.status])).toEqual([['user', 'done'], ['assistant', 'done']])
    expect(stored.messages[1]!.content).toBe(expected)
    expect(env.completions().at(-1)!.body.messages.at(-1)).toEqual({ role: 'user', content: 'Tell me something long' })
    expect(env.tp.problems).toEqual([])
  })

  it('a follow-up question in the same chat streams a second answer', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['First', ' answer.'], delayMs: 5 }, { chunks: ['Second', ' answer', ' here.'], delayMs: 20 })
    await visit(page, '/')
    await sendMessage(page, 'one')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    await sendMessage(page, 'two')
    await until(() => articles(page, 'assistant').count(), n => n === 2, { what: 'a second answer' })
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(articles(page, 'assistant').nth(0))).toBe('First answer.')
    expect(await answerText(articles(page, 'assistant').nth(1))).toBe('Second answer here.')
    // The second request carried the history.
    const req = await env.fake.waitForCompletion(env.base + 1)
    expect(req.body.messages.slice(-3)).toEqual([
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'First answer.' },
      { role: 'user', content: 'two' },
    ])
  })
})

describe('reload mid-answer', () => {
  it('continues after a reload with no duplicated and no missing words, equal to the stored message', async () => {
    const { page } = env.tp
    const words = numberedWords(60, 'w')
    env.fake.enqueue({ chunks: words, delayMs: 50 })
    await visit(page, '/')
    await sendMessage(page, 'Count to sixty slowly')
    const chatId = await waitForChatPage(page)
    await waitForAnswerText(t => t.includes('w05'), 'some words before the reload')

    await page.reload()
    // Right after the reload the page shows the answer so far, still streaming.
    await waitForAssistantStatus(page, ['streaming', 'pending', 'done'])
    const samples = await sampleAnswer(page, { intervalMs: 20, timeoutMs: 15_000 })
    expect(samples.at(-1)!.status, JSON.stringify(samples.slice(-5))).toBe('done')
    const partialAfterReload = samples.filter(s => s.status === 'streaming' && s.length > 0 && s.length < words.join('').length)
    expect(partialAfterReload.length, 'the answer was still growing after the reload').toBeGreaterThan(0)

    const rendered = await answerText(lastAssistant(page))
    expect(rendered.split(/\s+/)).toEqual(words.map(w => w.trim()))
    expect(rendered).toBe(words.join(''))
    const stored = await fetchChat(page, chatId)
    const answer = stored.messages.find(m => m.role === 'assistant')
    expect(answer).toMatchObject({ status: 'done', content: rendered })
    // One generation only: the reload did not start another.
    expect(env.completions().length).toBe(1)
    expect(await articles(page, 'assistant').count()).toBe(1)
    expect(env.tp.problems.filter(p => !/EventSource|ERR_|net::/i.test(p))).toEqual([])
  })
})

describe('flaky network and several tabs', () => {
  it('the connection drops mid-answer: the browser reconnects and the text has no gap and no duplicate', async () => {
    const proxy = await startTcpProxy(env.flume.url)
    const viaProxy = await openPage(env.browser, proxy.url)
    try {
      const { page } = viaProxy
      const words = numberedWords(40, 'n')
      env.fake.enqueue({ chunks: words, delayMs: 50 })
      await visit(page, '/')
      await sendMessage(page, 'Survive the network')
      const chatId = await waitForChatPage(page)
      await until(() => answerText(lastAssistant(page)), t => t.includes('n04'), { what: 'some words before the outage', intervalMs: 20 })
      // The network goes away for a moment; several chunks are generated meanwhile.
      proxy.cut(400)
      await waitForAssistantStatus(page, 'done', { timeoutMs: 20_000 })
      const rendered = await answerText(lastAssistant(page))
      expect(rendered.split(/\s+/)).toEqual(words.map(w => w.trim()))
      const stored = await fetchChat(page, chatId)
      expect(stored.messages.at(-1)).toMatchObject({ status: 'done', content: rendered })
      expect(env.completions().length).toBe(1)
      // The outage really cut the stream, and the browser asked again from where it was (as the
      // server saw it: Last-Event-ID is added below the page, where Playwright does not see it).
      const streamRequests = proxy.requestHeads().filter(head => /^GET \S*\/stream/.test(head)).map(head => ({
        line: head.split('\r\n')[0],
        lastEventId: /\r\nlast-event-id: *(\d+)/i.exec(head)?.[1],
      }))
      expect(streamRequests.length, JSON.stringify(streamRequests)).toBeGreaterThanOrEqual(2)
      const resumed = streamRequests.slice(1)
      expect(resumed.every(r => Number(r.lastEventId) > 0), JSON.stringify(streamRequests)).toBe(true)
    }
    finally {
      await viaProxy.close()
      await proxy.close()
    }
  })

  it('a second tab follows the same answer; both end with the same text', async () => {
    const { page, context } = env.tp
    const words = numberedWords(30, 't')
    env.fake.enqueue({ chunks: words, delayMs: 40 })
    await visit(page, '/')
    await sendMessage(page, 'Two tabs please')
    const chatId = await waitForChatPage(page)
    await waitForAnswerText(t => t.includes('t03'), 'some words in the first tab')

    const second = await context.newPage()
    await second.goto(`/chat/${chatId}`)
    await waitForAssistantStatus(second, ['streaming', 'pending'], { timeoutMs: 5_000 })
    await Promise.all([waitForAssistantStatus(page, 'done'), waitForAssistantStatus(second, 'done')])
    const expected = words.join('')
    expect(await answerText(lastAssistant(page))).toBe(expected)
    expect(await answerText(lastAssistant(second))).toBe(expected)
    expect(env.completions().length).toBe(1)
    await second.close()
  })
})

describe('stop', () => {
  it('stops the answer: status stopped, partial text stays, upstream aborted, no more growth', async () => {
    const { page } = env.tp
    const words = numberedWords(60, 's')
    env.fake.enqueue({ chunks: words, delayMs: 50 })
    await visit(page, '/')
    await sendMessage(page, 'Go on and on')
    const chatId = await waitForChatPage(page)
    await waitForAnswerText(t => t.includes('s04'), 'some text before stopping')
    const completion = await env.fake.waitForCompletion(env.base)

    await stopButton(page).click()
    await waitForAssistantStatus(page, 'stopped', { timeoutMs: 5_000 })
    expect(await completion.outcome).toBe('aborted')
    await until(() => stopButton(page).count(), n => n === 0, { what: 'the Stop button to go away' })

    const atStop = await answerText(lastAssistant(page))
    expect(atStop.length).toBeGreaterThan(0)
    expect(words.join('').startsWith(atStop)).toBe(true)
    expect(atStop.length).toBeLessThan(words.join('').length)

    // Several upstream chunk intervals later, nothing grew.
    await page.waitForTimeout(400)
    expect(await answerText(lastAssistant(page))).toBe(atStop)
    expect(await lastAssistant(page).getAttribute('data-status')).toBe('stopped')

    const stored = await fetchChat(page, chatId)
    const answer = stored.messages.find(m => m.role === 'assistant')
    expect(answer).toMatchObject({ status: 'stopped', content: atStop })

    // The composer is usable again.
    expect(await sendButton(page).isVisible()).toBe(true)

    // After a reload it is still stopped, with the same text, and nothing resumes.
    await page.reload()
    await waitForAssistantStatus(page, 'stopped')
    expect(await answerText(lastAssistant(page))).toBe(atStop)
    expect(await stopButton(page).count()).toBe(0)
    expect(env.completions().length).toBe(1)
  })
})

describe('stop before the first token', () => {
  it('Stop while the model has not answered yet: stopped, empty, upstream aborted', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['too', ' late'], initialDelayMs: 5_000 })
    await visit(page, '/')
    await sendMessage(page, 'Slow to start')
    const chatId = await waitForChatPage(page)
    await stopButton(page).waitFor()
    const completion = await env.fake.waitForCompletion(env.base)
    await stopButton(page).click()
    await waitForAssistantStatus(page, 'stopped', { timeoutMs: 5_000 })
    expect(await completion.outcome).toBe('aborted')
    expect(await answerText(lastAssistant(page))).toBe('')
    const stored = await fetchChat(page, chatId)
    expect(stored.messages.at(-1)).toMatchObject({ role: 'assistant', status: 'stopped', content: '' })
  })
})

describe('upstream errors', () => {
  it('a 500 shows an error on the answer; Retry sends again and the new answer completes', async () => {
    const { page } = env.tp
    env.fake.enqueue({ status: 500 }, { chunks: ['Recovered', ' fine.'], delayMs: 10 })
    await visit(page, '/')
    await sendMessage(page, 'Please fail first')
    const chatId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'error')

    const failed = lastAssistant(page)
    const alert = failed.getByRole('alert')
    await alert.waitFor()
    expect((await alert.innerText()).trim().length).toBeGreaterThan(0)
    const stored = await fetchChat(page, chatId)
    expect(stored.messages.at(-1)).toMatchObject({ status: 'error', error: { code: 'upstream_unavailable' } })

    await failed.getByRole('button', { name: 'Retry' }).click()
    await until(() => lastAssistant(page).getAttribute('data-status'), s => s === 'done', { what: 'the retried answer to complete' })
    expect(await answerText(lastAssistant(page))).toBe('Recovered fine.')
    expect(env.completions().length).toBe(2)
    expect(env.completions()[1]!.body.messages.at(-1)).toEqual({ role: 'user', content: 'Please fail first' })
    // No stale error alert on the completed answer.
    expect(await lastAssistant(page).getByRole('alert').count()).toBe(0)
  })

  it('a connection dropped mid-answer keeps the partial text, shows an error, and Retry completes', async () => {
    const { page } = env.tp
    const parts = numberedWords(10, 'part')
    env.fake.enqueue({ chunks: parts, delayMs: 30, dropAfter: 5 }, { chunks: ['Second', ' try', ' worked.'], delayMs: 10 })
    await visit(page, '/')
    await sendMessage(page, 'Please drop')
    const chatId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'error')

    const failed = lastAssistant(page)
    await failed.getByRole('alert').waitFor()
    const partial = parts.slice(0, 5).join('')
    expect(await answerText(failed)).toBe(partial)
    const stored = await fetchChat(page, chatId)
    expect(stored.messages.at(-1)).toMatchObject({ status: 'error', content: partial })
    ensureScreenshotDir()
    await page.screenshot({ path: resolve(screenshotDir, 'chat-error-1280.png') })

    await failed.getByRole('button', { name: 'Retry' }).click()
    await until(() => lastAssistant(page).getAttribute('data-status'), s => s === 'done', { what: 'the retried answer to complete' })
    expect(await answerText(lastAssistant(page))).toBe('Second try worked.')
    // The failed answer was replaced, not followed by a repeated question; the model never saw the partial text.
    expect(await articles(page).evaluateAll(els => els.map(e => e.getAttribute('data-role')))).toEqual(['user', 'assistant'])
    expect(env.completions().at(-1)!.body.messages).toEqual([{ role: 'user', content: 'Please drop' }])
    const after = await fetchChat(page, chatId)
    expect(after.messages.map(m => [m.role, m.content])).toEqual([['user', 'Please drop'], ['assistant', 'Second try worked.']])
  })
})

describe('scrolling', () => {
  const metrics = (page: TestPage['page']) => page.locator('.thread').evaluate(el => ({
    top: el.scrollTop,
    gap: el.scrollHeight - el.scrollTop - el.clientHeight,
    height: el.scrollHeight,
  }))

  it('follows the answer while the reader is at the bottom, and stays put once they scroll up', async () => {
    const { page } = env.tp
    await page.setViewportSize({ width: 1000, height: 500 })
    const lines = Array.from({ length: 80 }, (_, i) => `Line ${i} of a long answer.\n\n`)
    env.fake.enqueue({ chunks: lines, delayMs: 40 })
    await visit(page, '/')
    await sendMessage(page, 'Write a lot')
    await waitForChatPage(page)
    // Following: once the answer overflows, the view keeps the newest text in sight.
    const following = await until(() => metrics(page), m => m.height > 1500, { what: 'the answer to overflow the view' })
    expect(following.gap).toBeLessThan(60)

    await page.locator('.thread').evaluate((el) => {
      el.scrollTop = 100
    })
    const parked = await metrics(page)
    await until(() => metrics(page), m => m.height > parked.height + 400, { what: 'more text to arrive' })
    expect((await metrics(page)).top).toBe(parked.top)

    // Back at the bottom, it follows again.
    await page.locator('.thread').evaluate((el) => {
      el.scrollTop = el.scrollHeight
    })
    const resumed = await metrics(page)
    await until(() => metrics(page), m => m.height > resumed.height + 300, { what: 'more text to arrive' })
    expect((await metrics(page)).gap).toBeLessThan(60)
    await waitForAssistantStatus(page, 'done', { timeoutMs: 20_000 })
  })
})

describe('composer', () => {
  it('Shift+Enter inserts a newline without sending; Send is disabled while empty', async () => {
    const { page } = env.tp
    await visit(page, '/')
    const box = composer(page)
    expect(await sendButton(page).isDisabled()).toBe(true)

    await box.click()
    await box.pressSequentially('line one')
    expect(await sendButton(page).isEnabled()).toBe(true)
    await box.press('Shift+Enter')
    await box.pressSequentially('line two')
    expect(await box.inputValue()).toBe('line one\nline two')
    expect(new URL(page.url()).pathname).toBe('/')
    expect(await articles(page).count()).toBe(0)

    await box.fill('')
    expect(await sendButton(page).isDisabled()).toBe(true)
    await box.fill('   \n  ')
    expect(await sendButton(page).isDisabled()).toBe(true)
    await box.press('Enter')
    expect(new URL(page.url()).pathname).toBe('/')

    // Nothing reached the server.
    expect(await listChats(page)).toEqual([])
    expect(env.completions().filter(r => JSON.stringify(r.body).includes('line one'))).toEqual([])

    // Clicking Send sends the multi-line text as it is.
    env.fake.enqueue({ chunks: ['ok'] })
    await box.fill('line one\nline two')
    await sendButton(page).click()
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(await lastUser(page).innerText()).toContain('line one\nline two')
  })
})

describe('chats list', () => {
  it('lists chats, starts a new one, and deletes one', async () => {
    const { page } = env.tp
    const nav = page.getByRole('navigation', { name: 'Chats' })
    env.fake.enqueue({ chunks: ['About rivers.'] }, { chunks: ['About mountains.'] })

    await visit(page, '/')
    await sendMessage(page, 'First chat about rivers')
    const firstId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const firstLink = nav.getByRole('link', { name: 'First chat about rivers' })
    await firstLink.waitFor()

    await nav.getByRole('link', { name: 'New chat' }).click()
    await page.waitForURL(u => new URL(u).pathname === '/')
    expect(await articles(page).count()).toBe(0)
    expect(await composer(page).inputValue()).toBe('')

    await sendMessage(page, 'Second chat about mountains')
    await page.waitForURL(u => /\/chat\//.test(u.pathname) && !u.pathname.endsWith(firstId))
    const secondId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(lastAssistant(page))).toBe('About mountains.')
    const secondLink = nav.getByRole('link', { name: 'Second chat about mountains' })
    await secondLink.waitFor()
    expect(await firstLink.isVisible()).toBe(true)
    // Most recently updated first.
    const names = await nav.getByRole('link').allInnerTexts()
    expect(names.indexOf('Second chat about mountains')).toBeLessThan(names.indexOf('First chat about rivers'))

    // Going back to the first chat shows its messages.
    await firstLink.click()
    await page.waitForURL(u => u.pathname.endsWith(firstId))
    await until(() => answerText(lastAssistant(page)), t => t === 'About rivers.', { what: 'the first chat\'s answer' })
    expect(await lastAssistant(page).getAttribute('data-status')).toBe('done')
    expect(await articles(page).count()).toBe(2)

    // Delete the other chat (not the one shown).
    const secondItem = nav.getByRole('listitem').filter({ has: page.getByRole('link', { name: 'Second chat about mountains' }) })
    await secondItem.getByRole('button', { name: /^delete/i }).click()
    await secondItem.getByRole('button', { name: /^confirm delete/i }).click()
    await secondLink.waitFor({ state: 'detached' })
    expect(await firstLink.isVisible()).toBe(true)
    expect((await listChats(page)).map(c => c.id)).toEqual([firstId])
    expect((await page.request.get(`/api/chats/${secondId}`)).status()).toBe(404)

    // Delete the chat being shown: it goes away and the page leaves it.
    const firstItem = nav.getByRole('listitem').filter({ has: page.getByRole('link', { name: 'First chat about rivers' }) })
    await firstItem.getByRole('button', { name: /^delete/i }).click()
    await firstItem.getByRole('button', { name: /^confirm delete/i }).click()
    await firstLink.waitFor({ state: 'detached' })
    await page.waitForURL(u => new URL(u).pathname === '/')
    expect(await listChats(page)).toEqual([])

    // And after a reload, still gone.
    await page.reload()
    await page.waitForLoadState('domcontentloaded')
    expect(await nav.getByRole('link', { name: /rivers|mountains/ }).count()).toBe(0)
  })
})
