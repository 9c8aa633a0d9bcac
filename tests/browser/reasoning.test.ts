/**
 * A model's reasoning in the real UI (built app, Chromium, fake upstream sending
 * `reasoning_content`): the "Thinking… N s" line first, the reasoning behind it, "Thought for
 * N s" once the answer starts, and both texts exact after a reload or a cut connection
 * (docs/reasoning.md).
 */
import type { Locator, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { createGate } from '../support/fake-openai'
import {
  fetchChat,
  lastAssistant,
  numberedWords,
  openPage,
  sendMessage,
  startTcpProxy,
  until,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
  useBrowserEnv,
} from './support'

const env = useBrowserEnv({ FLUME_SAVE_INTERVAL_MS: '200' })

/** Reasoning as the fake sends it, one chunk each: DeepSeek's and vLLM's field. */
const thoughts = (words: string[]) => words.map(reasoning_content => ({ reasoning_content }))

/** The reasoning's one-line disclosure of an answer ("Thinking… N s", "Thought for N s"). */
const reasoningToggle = (article: Locator) => article.getByRole('button', { name: /^(Thinking…|Thought for|Reasoning)/ })
/** What the line reads (the chevron beside it is aria-hidden). */
const lineOf = async (article: Locator) => (await reasoningToggle(article).locator('.message-reasoning-label').innerText()).trim()
const reasoningPanel = (article: Locator) => article.getByRole('region', { name: 'Reasoning' })

/** The answer's text as rendered: its own markdown, not the reasoning's nor any note. */
async function answerOnly(article: Locator): Promise<string> {
  return await article.evaluate(el => [...el.children]
    .filter(child => child.matches('.markdown'))
    .map(child => (child as HTMLElement).innerText)
    .join('\n')
    .trim())
}

async function reasoningShown(article: Locator): Promise<string> {
  return (await reasoningPanel(article).innerText()).trim()
}

/** The line's seconds: "Thinking… 3 s" → 3. */
async function lineSeconds(article: Locator): Promise<number> {
  const text = await lineOf(article)
  return Number(/(\d+) s$/.exec(text)?.[1] ?? Number.NaN)
}

async function openReasoning(article: Locator) {
  const toggle = reasoningToggle(article)
  if (await toggle.getAttribute('aria-expanded') !== 'true') await toggle.click()
}

/** The reasoning once its panel shows `last` (a panel just opened renders its text in a moment). */
async function reasoningThrough(article: Locator, last: string): Promise<string> {
  return await until(() => reasoningShown(article).catch(() => ''), t => t.includes(last), { intervalMs: 20, what: `the reasoning through ${last}` })
}

async function waitForAnswerOnly(page: Page, check: (text: string) => boolean, what: string) {
  return await until(() => answerOnly(lastAssistant(page)).catch(() => ''), check, { intervalMs: 20, what })
}

describe('reasoning', () => {
  it('shows "Thinking… N s" before any answer text, opens to the reasoning, and reads "Thought for N s" once the answer starts', async () => {
    const { page } = env.tp
    const reasoning = ['The person asks ', 'about **colours**. ', 'Rayleigh scattering ', 'explains it.']
    const answer = ['The sky ', 'is blue ', 'because of scattering.']
    const gate = createGate()
    env.fake.enqueue({
      chunks: [...thoughts(reasoning), ...answer],
      delayMs: 10,
      pauseAfter: reasoning.length,
      until: gate.promise,
      usage: { prompt_tokens: 12, completion_tokens: 40, completion_tokens_details: { reasoning_tokens: 30 } },
    })
    await visit(page, '/')
    await sendMessage(page, 'Why is the sky blue?')
    const chatId = await waitForChatPage(page)
    const article = lastAssistant(page)

    // Thinking: one folded line that counts the seconds, and no answer text.
    await expect.poll(() => lineOf(article)).toMatch(/^Thinking… \d+ s$/)
    expect(await reasoningToggle(article).getAttribute('aria-expanded')).toBe('false')
    expect(await article.getAttribute('data-status')).toBe('streaming')
    expect(await answerOnly(article)).toBe('')
    expect(await article.locator('.message-typing').count()).toBe(0)
    const first = await lineSeconds(article)
    await expect.poll(() => lineSeconds(article), { timeout: 5_000 }).toBeGreaterThan(first)

    // Opened, it shows the reasoning so far as markdown, subdued beside the answer.
    await reasoningToggle(article).click()
    await expect.poll(() => reasoningShown(article)).toBe('The person asks about colours. Rayleigh scattering explains it.')
    expect(await reasoningPanel(article).locator('strong').innerText()).toBe('colours')
    const colours = await page.evaluate(() => {
      const article = [...document.querySelectorAll('article[data-role="assistant"]')].at(-1)!
      const panel = article.querySelector('[role="region"]')!
      return { reasoning: getComputedStyle(panel).color, body: getComputedStyle(document.body).color }
    })
    expect(colours.reasoning).not.toBe(colours.body)
    // Folded again before the answer comes: it stays folded.
    await reasoningToggle(article).click()
    expect(await reasoningPanel(article).count()).toBe(0)

    gate.open()
    await waitForAssistantStatus(page, 'done')
    expect(await answerOnly(article)).toBe(answer.join('').trim())
    await expect.poll(() => lineOf(article)).toMatch(/^Thought for \d+ s$/)
    expect(await reasoningToggle(article).getAttribute('aria-expanded')).toBe('false')
    expect(await reasoningPanel(article).count()).toBe(0)
    await expect.poll(() => article.locator('.message-usage').innerText()).toBe('12 → 40 tokens (30 reasoning)')

    // The line says what the server measured.
    const stored = (await fetchChat(page, chatId)).messages.at(-1)!
    expect(stored).toMatchObject({ status: 'done', content: answer.join(''), reasoning: reasoning.join('') })
    expect(stored.reasoningMs).toBeGreaterThanOrEqual(first * 1000)
    expect(await lineOf(article)).toBe(`Thought for ${Math.max(1, Math.round(stored.reasoningMs! / 1000))} s`)
    expect(env.tp.problems).toEqual([])
  })

  it('after a reload mid-reasoning and again mid-answer, both texts are complete with nothing twice, equal to the stored message', async () => {
    const { page } = env.tp
    const reasoning = numberedWords(40, 'r')
    const answer = numberedWords(80, 'a')
    // Held halfway through the reasoning: the first reload surely lands while the model thinks.
    const gate = createGate()
    env.fake.enqueue({ chunks: [...thoughts(reasoning), ...answer], delayMs: 60, pauseAfter: 20, until: gate.promise })
    await visit(page, '/')
    await sendMessage(page, 'Think it through, step by step')
    const chatId = await waitForChatPage(page)
    const article = lastAssistant(page)
    await openReasoning(article)
    await until(() => reasoningShown(article).catch(() => ''), t => t.includes('r20'), { intervalMs: 20, what: 'the reasoning before the pause' })

    await page.reload()
    // Still thinking, and the seconds count from when the answer began, not from the reload.
    await expect.poll(() => lineOf(article)).toMatch(/^Thinking… \d+ s$/)
    const { createdAt } = (await fetchChat(page, chatId)).messages.at(-1)!
    const elapsed = Math.floor((Date.now() - Date.parse(createdAt)) / 1000)
    expect(elapsed).toBeGreaterThanOrEqual(1)
    await expect.poll(() => lineSeconds(article)).toBeGreaterThanOrEqual(elapsed - 1)
    expect(await answerOnly(article)).toBe('')
    await openReasoning(article)
    expect(await reasoningThrough(article, 'r20')).toBe(reasoning.slice(0, 20).join(''))

    gate.open()
    await until(() => reasoningShown(article), t => t.includes('r30'), { intervalMs: 20, what: 'the reasoning going on after the reload' })
    await waitForAnswerOnly(page, t => t.includes('a05'), 'some answer before the second reload')
    await page.reload()
    await waitForAssistantStatus(page, ['streaming', 'pending', 'done'])
    expect(await article.getAttribute('data-status'), 'the second reload came before the end of the answer').toBe('streaming')
    await waitForAssistantStatus(page, 'done', { timeoutMs: 20_000 })

    await expect.poll(() => lineOf(article)).toMatch(/^Thought for \d+ s$/)
    await openReasoning(article)
    const shownReasoning = await reasoningThrough(article, 'r40')
    const shownAnswer = await answerOnly(article)
    expect(shownReasoning.split(/\s+/)).toEqual(reasoning.map(w => w.trim()))
    expect(shownAnswer.split(/\s+/)).toEqual(answer.map(w => w.trim()))
    const stored = (await fetchChat(page, chatId)).messages.at(-1)!
    expect(stored).toMatchObject({ status: 'done', content: shownAnswer, reasoning: shownReasoning })
    expect(env.completions().length).toBe(1)
    expect(env.tp.problems.filter(p => !/EventSource|ERR_|net::/i.test(p))).toEqual([])
  })

  it('a connection cut mid-reasoning: the browser resumes both texts from its pair Last-Event-ID, no gap, no duplicate', async () => {
    const proxy = await startTcpProxy(env.flume.url)
    const viaProxy = await openPage(env.browser, proxy.url)
    try {
      const { page } = viaProxy
      const reasoning = numberedWords(30, 'q')
      const answer = numberedWords(20, 'b')
      // Held after 15 reasoning chunks: the outage comes while the model thinks.
      const gate = createGate()
      env.fake.enqueue({ chunks: [...thoughts(reasoning), ...answer], delayMs: 40, pauseAfter: 15, until: gate.promise })
      await visit(page, '/')
      await sendMessage(page, 'Reason about networks')
      const chatId = await waitForChatPage(page)
      const article = lastAssistant(page)
      await openReasoning(article)
      await until(() => reasoningShown(article).catch(() => ''), t => t.includes('q15'), { intervalMs: 20, what: 'the reasoning before the outage' })
      const streamHeads = () => proxy.requestHeads().filter(head => /^GET \S*\/stream/.test(head))
      const before = streamHeads().length
      proxy.cut(400)
      await until(async () => streamHeads().length, n => n > before, { timeoutMs: 15_000, what: 'the browser to reconnect' })
      gate.open()
      await waitForAssistantStatus(page, 'done', { timeoutMs: 20_000 })

      const shownReasoning = await reasoningShown(article)
      const shownAnswer = await answerOnly(article)
      expect(shownReasoning.split(/\s+/)).toEqual(reasoning.map(w => w.trim()))
      expect(shownAnswer.split(/\s+/)).toEqual(answer.map(w => w.trim()))
      const stored = (await fetchChat(page, chatId)).messages.at(-1)!
      expect(stored).toMatchObject({ status: 'done', content: shownAnswer, reasoning: shownReasoning })
      // The browser asked again from where it was in both texts: no answer yet, 15 chunks of reasoning.
      const resumed = streamHeads().slice(before).map(head => /\r\nlast-event-id: *(\S+)/i.exec(head)?.[1])
      expect(resumed[0], JSON.stringify(resumed)).toBe(`0,${reasoning.slice(0, 15).join('').length}`)
      expect(env.completions().length).toBe(1)
    }
    finally {
      await viaProxy.close()
      await proxy.close()
    }
  })
})
