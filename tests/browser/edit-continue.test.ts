/**
 * Edit and resend, Continue, and the chat settings, as a person uses them in Chromium: what the
 * thread shows, what survives a reload, and what the model was sent.
 */
import { resolve } from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import {
  answerText,
  articles,
  ensureScreenshotDir,
  fetchChat,
  lastAssistant,
  numberedWords,
  screenshotDir,
  sendMessage,
  stopButton,
  until,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
  useBrowserEnv,
  waitForHydration,
} from './support'

const env = useBrowserEnv({ FLUME_SAVE_INTERVAL_MS: '200' })

type Turn = { role: string, content: string }
const lastSent = () => env.fake.completions.at(-1)!.body as { messages: Turn[], temperature?: number }
/** The accessible name (aria-label) of the focused element, or its tag. */
const focusedName = (page: Page) => page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName)
const userTexts = (page: Page) => articles(page, 'user').locator('.message-user-text').allInnerTexts()

async function startChat(page: Page, question: string) {
  await visit(page, '/')
  await sendMessage(page, question)
  const chatId = await waitForChatPage(page)
  await waitForAssistantStatus(page, 'done')
  return chatId
}

describe('edit and resend', () => {
  it('replaces the question and everything after it, in the page and after a reload', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Paris ', 'is ', 'the ', 'capital.'] })
    const chatId = await startChat(page, 'Capital of France?')
    env.fake.enqueue({ chunks: ['About ', 'two ', 'million.'] })
    await sendMessage(page, 'How many people live there?')
    await until(() => articles(page, 'assistant').count(), n => n === 2, { what: 'a second answer' })
    await waitForAssistantStatus(page, 'done')

    env.fake.enqueue({ chunks: ['Berlin ', 'is ', 'the ', 'capital.'] })
    const first = articles(page, 'user').first()
    await first.hover()
    ensureScreenshotDir()
    await page.screenshot({ path: resolve(screenshotDir, 'chat-1280-hover-question.png') })
    await first.getByRole('button', { name: 'Edit message' }).click()
    const editor = page.getByRole('textbox', { name: 'Edit message' })
    expect(await editor.inputValue()).toBe('Capital of France?')
    await page.screenshot({ path: resolve(screenshotDir, 'chat-1280-edit.png') })
    await editor.fill('Capital of Germany?')
    await editor.press('Enter')
    // The editor went away with the old question: typing goes on in the composer.
    await until(() => focusedName(page), name => name === 'Message', { what: 'the composer focused' })

    await until(() => articles(page).count(), n => n === 2, { what: 'the later messages gone' })
    await waitForAssistantStatus(page, 'done')
    expect(await userTexts(page)).toEqual(['Capital of Germany?'])
    expect(await answerText(lastAssistant(page))).toBe('Berlin is the capital.')
    expect(lastSent().messages).toEqual([{ role: 'user', content: 'Capital of Germany?' }])

    await page.reload()
    await waitForAssistantStatus(page, 'done')
    expect(await userTexts(page)).toEqual(['Capital of Germany?'])
    expect(await answerText(lastAssistant(page))).toBe('Berlin is the capital.')
    expect((await fetchChat(page, chatId)).messages).toHaveLength(2)
  })

  it('Escape leaves the question untouched', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Fine.'] })
    await startChat(page, 'Keep this one')
    const requests = env.fake.completions.length
    await articles(page, 'user').first().hover()
    await page.getByRole('button', { name: 'Edit message' }).click()
    await page.getByRole('textbox', { name: 'Edit message' }).fill('Something else')
    await page.keyboard.press('Escape')
    expect(await userTexts(page)).toEqual(['Keep this one'])
    expect(env.fake.completions.length).toBe(requests)
    // Focus is back on Edit, not lost to the page.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Edit message')
  })
})

describe('Continue', () => {
  it('goes on from a stopped answer: the old text stays and the new text is appended', async () => {
    const { page } = env.tp
    const words = numberedWords(200)
    env.fake.enqueue({ chunks: words, delayMs: 30 })
    await visit(page, '/')
    await sendMessage(page, 'Count for me')
    const chatId = await waitForChatPage(page)
    await until(() => answerText(lastAssistant(page)), text => text.split(' ').length > 5, { what: 'some words' })
    await stopButton(page).click()
    await waitForAssistantStatus(page, 'stopped')
    const before = (await fetchChat(page, chatId)).messages[1]!.content
    expect(before.length).toBeGreaterThan(0)

    env.fake.enqueue({ chunks: ['and ', 'that ', 'is ', 'all.'] })
    await lastAssistant(page).getByRole('button', { name: 'Continue' }).click()
    await until(() => focusedName(page), name => name === 'Message', { what: 'the composer focused' })
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(lastAssistant(page))).toBe(`${before}and that is all.`.trim())
    expect(await articles(page, 'assistant').count()).toBe(1)
    expect(lastSent().messages.slice(0, 2)).toEqual([{ role: 'user', content: 'Count for me' }, { role: 'assistant', content: before }])

    await page.reload()
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(lastAssistant(page))).toBe(`${before}and that is all.`.trim())
  })

  it('goes on from an answer whose connection to the model dropped', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['The ', 'first ', 'half '], delayMs: 5, dropAfter: 3 })
    await visit(page, '/')
    await sendMessage(page, 'Tell me a story')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'error')
    env.fake.enqueue({ chunks: ['and ', 'the ', 'end.'] })
    await lastAssistant(page).getByRole('button', { name: 'Continue' }).click()
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(lastAssistant(page))).toBe('The first half and the end.')
    expect(await lastAssistant(page).locator('.message-error').count()).toBe(0)
  })
})

describe('chat settings', () => {
  it('a system prompt and a temperature saved for a chat are sent with its next questions, and shown after a reload', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Hello.'] })
    const chatId = await startChat(page, 'Hi')
    await page.getByRole('button', { name: /^Chat settings/ }).click()
    await page.getByRole('textbox', { name: 'System prompt' }).fill('Answer like a pirate.')
    await page.getByRole('checkbox', { name: 'Model default' }).uncheck()
    await page.getByRole('slider', { name: 'Temperature' }).fill('0.3')
    ensureScreenshotDir()
    await page.screenshot({ path: resolve(screenshotDir, 'chat-1280-settings.png') })
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByRole('textbox', { name: 'System prompt' }).waitFor({ state: 'detached' })
    expect(await page.getByRole('button', { name: /^Chat settings/ }).innerText()).toContain('temperature 0.3')

    env.fake.enqueue({ chunks: ['Arr.'] })
    await sendMessage(page, 'Again')
    await until(() => articles(page, 'assistant').count(), n => n === 2, { what: 'a second answer' })
    await waitForAssistantStatus(page, 'done')
    expect(lastSent().messages[0]).toEqual({ role: 'system', content: 'Answer like a pirate.' })
    expect(lastSent().temperature).toBe(0.3)

    await page.reload()
    await waitForHydration(page)
    await page.getByRole('button', { name: /^Chat settings/ }).click()
    expect(await page.getByRole('textbox', { name: 'System prompt' }).inputValue()).toBe('Answer like a pirate.')
    expect(await page.getByRole('slider', { name: 'Temperature' }).inputValue()).toBe('0.3')
    expect(await fetchChat(page, chatId)).toMatchObject({ systemPrompt: 'Answer like a pirate.', temperature: 0.3 })
  })
})
