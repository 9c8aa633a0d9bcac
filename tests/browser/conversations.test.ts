/**
 * Everyday conversation features in the real UI (built app, Chromium) against the fake
 * upstream: searching the sidebar, renaming and deleting chats, regenerating an answer,
 * copying an answer or a code block, and picking a chat's model.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import {
  answerText,
  articles,
  chatIdOf,
  fetchChat,
  lastAssistant,
  listChats,
  seedChat,
  sendMessage,
  sidebar,
  sidebarChatLinks,
  sidebarItem,
  until,
  useBrowserEnv,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
} from './support'

const MODELS = ['alpha-model', 'beta-model', 'gamma-model']

const env = useBrowserEnv()
beforeAll(() => {
  // Before any page asks for /api/models (the server keeps the list for a while).
  env.fake.models = [...MODELS]
})

/** The titles the sidebar lists, in order. */
const shownTitles = () => sidebarChatLinks(env.tp.page).allInnerTexts()

/** Waits until the sidebar lists exactly `titles` (in any order). */
async function expectSidebar(titles: string[], what: string, timeoutMs = 10_000) {
  await until(shownTitles, t => JSON.stringify([...t].sort()) === JSON.stringify([...titles].sort()), { what, timeoutMs })
}

/** The questions on screen, as written (without their buttons). */
async function userTexts(): Promise<string[]> {
  const all = articles(env.tp.page, 'user')
  const out: string[] = []
  for (let i = 0; i < await all.count(); i++) out.push(await answerText(all.nth(i)))
  return out
}

/** The accessible name (aria-label or text) of the focused element. */
const focusedName = () => env.tp.page.evaluate(() => {
  const el = document.activeElement
  return el?.getAttribute('aria-label') ?? (el as HTMLElement | null)?.innerText ?? null
})

describe('sidebar search', () => {
  it('narrows the list by title and by message text; clearing brings back the grouped list', async () => {
    const { page } = env.tp
    await seedChat(page, 'Sourdough starter tips', ['How often should I feed it?'])
    await seedChat(page, 'Trip to Lisbon', ['Which museums show azulejo tiles?'])
    await seedChat(page, 'Garden planning', ['When do I plant tomatoes outside?'])
    const all = ['Sourdough starter tips', 'Trip to Lisbon', 'Garden planning']

    await visit(page, '/')
    await expectSidebar(all, 'all three chats listed')
    const search = page.getByRole('searchbox', { name: 'Search chats' })
    const today = sidebar(page).getByRole('region', { name: 'Today' })
    expect(await today.getByRole('heading', { name: 'Today' }).isVisible()).toBe(true)

    // By title, whatever the case.
    await search.fill('LISBON')
    await expectSidebar(['Trip to Lisbon'], 'only the Lisbon chat (title match)')

    // By the text of a message that is not in any title.
    await search.fill('tomatoes')
    await expectSidebar(['Garden planning'], 'only the garden chat (message match)')
    await search.fill('azulejo')
    await expectSidebar(['Trip to Lisbon'], 'only the Lisbon chat (message match)')

    // Nothing matches: said so.
    await search.fill('zebra crossing')
    await sidebar(page).getByRole('status').filter({ hasText: 'No chats match your search.' }).waitFor()
    expect(await sidebarChatLinks(page).count()).toBe(0)

    // Cleared: every chat, grouped under Today again.
    await search.fill('')
    await expectSidebar(all, 'all chats back after clearing')
    expect(await today.getByRole('heading', { name: 'Today' }).isVisible()).toBe(true)
    expect(await today.getByRole('link').count()).toBe(3)

    // Escape in the box clears it too.
    await search.fill('sourdough')
    await expectSidebar(['Sourdough starter tips'], 'only the sourdough chat')
    await search.press('Escape')
    expect(await search.inputValue()).toBe('')
    await expectSidebar(all, 'all chats back after Escape')

    // A result opens its chat.
    await search.fill('feed it')
    await expectSidebar(['Sourdough starter tips'], 'only the sourdough chat (message match)')
    await sidebarChatLinks(page).first().click()
    await page.waitForURL(/\/chat\//)
    await until(userTexts, t => t.join() === 'How often should I feed it?', { what: 'the found chat\'s question on screen' })
    expect(env.tp.problems).toEqual([])
  })

  it('takes % and _ literally, not as wildcards', async () => {
    const { page } = env.tp
    await seedChat(page, '50% off sale')
    await seedChat(page, 'Plain notes', ['snake_case or camelCase?'])
    await seedChat(page, 'Percent-free chat', ['nothing special here'])
    const search = page.getByRole('searchbox', { name: 'Search chats' })
    await visit(page, '/')
    await expectSidebar(['50% off sale', 'Plain notes', 'Percent-free chat'], 'all three chats')
    await search.fill('%')
    await expectSidebar(['50% off sale'], 'only the chat with a % in it')
    await search.fill('e_c')
    await expectSidebar(['Plain notes'], 'only the chat whose message has "e_c"')
  })

  // SQLite's own LOWER() folds A-Z only; server/utils/db.ts replaces it by a Unicode-aware one.
  it('finds a chat whose title has non-English capitals, typed as written or in another case', async () => {
    const { page } = env.tp
    await seedChat(page, 'Éclair recipes')
    await seedChat(page, 'Поездка в Москву')
    const search = page.getByRole('searchbox', { name: 'Search chats' })
    await visit(page, '/')
    await expectSidebar(['Éclair recipes', 'Поездка в Москву'], 'both chats')
    for (const [q, title] of [['Éclair', 'Éclair recipes'], ['éclair', 'Éclair recipes'], ['Поездка', 'Поездка в Москву'], ['МОСКВУ', 'Поездка в Москву']] as const) {
      await search.fill(q)
      await expectSidebar([title], `"${title}" for "${q}"`, 2000)
    }
  })
})

describe('rename', () => {
  it('renames a chat inline: Escape cancels, Enter saves, and the title survives a reload', async () => {
    const { page } = env.tp
    const chat = await seedChat(page, 'Old name', ['Something to talk about'])
    await seedChat(page, 'Another chat')
    await visit(page, `/chat/${chat.id}`)
    await sidebarItem(page, 'Old name').waitFor()

    // Escape: nothing changes.
    await sidebar(page).getByRole('button', { name: 'Rename chat: Old name' }).click()
    const input = sidebar(page).getByRole('textbox', { name: 'New title for Old name' })
    expect(await input.inputValue()).toBe('Old name')
    expect(await input.evaluate(el => el === document.activeElement)).toBe(true)
    await input.fill('Discarded title')
    await input.press('Escape')
    await input.waitFor({ state: 'detached' })
    await expectSidebar(['Old name', 'Another chat'], 'the old title kept after Escape')
    // The keyboard user is back where they were.
    expect(await focusedName()).toBe('Rename chat: Old name')
    expect((await fetchChat(page, chat.id)).title).toBe('Old name')

    // Enter: saved.
    await sidebar(page).getByRole('button', { name: 'Rename chat: Old name' }).click()
    await input.fill('  Bread baking notes  ')
    await input.press('Enter')
    await expectSidebar(['Bread baking notes', 'Another chat'], 'the new title in the sidebar')
    await until(() => fetchChat(page, chat.id), c => c.title === 'Bread baking notes', { what: 'the stored title' })
    // Still on the chat, with its messages.
    expect(chatIdOf(page)).toBe(chat.id)
    expect(await articles(page).count()).toBe(2)

    await page.reload()
    await expectSidebar(['Bread baking notes', 'Another chat'], 'the new title after a reload')
    expect(await page.title()).toBe('Bread baking notes · Flume')
    expect(env.tp.problems).toEqual([])
  })

  it('an empty title is not saved; leaving the field saves what was typed', async () => {
    const { page } = env.tp
    const chat = await seedChat(page, 'Before', ['Hello there'])
    await visit(page, `/chat/${chat.id}`)

    await sidebar(page).getByRole('button', { name: 'Rename chat: Before' }).click()
    const input = sidebar(page).getByRole('textbox', { name: 'New title for Before' })
    await input.fill('   ')
    await input.press('Enter')
    await input.waitFor({ state: 'detached' })
    await expectSidebar(['Before'], 'the title kept after an empty rename')
    expect((await fetchChat(page, chat.id)).title).toBe('Before')

    await sidebar(page).getByRole('button', { name: 'Rename chat: Before' }).click()
    await input.fill('Saved on blur')
    await page.getByRole('textbox', { name: 'Message', exact: true }).click()
    await expectSidebar(['Saved on blur'], 'the title saved when the field lost focus')
    await until(() => fetchChat(page, chat.id), c => c.title === 'Saved on blur', { what: 'the stored title' })
    expect(env.tp.problems).toEqual([])
  })

  it('renaming the chat on screen updates the tab title without a reload', async () => {
    const { page } = env.tp
    const chat = await seedChat(page, 'Tab title before', ['Hello there'])
    await visit(page, `/chat/${chat.id}`)
    expect(await page.title()).toBe('Tab title before · Flume')
    await sidebar(page).getByRole('button', { name: 'Rename chat: Tab title before' }).click()
    const input = sidebar(page).getByRole('textbox', { name: 'New title for Tab title before' })
    await input.fill('Tab title after')
    await input.press('Enter')
    await expectSidebar(['Tab title after'], 'the new title in the sidebar')
    await until(() => page.title(), t => t === 'Tab title after · Flume', { what: 'the tab title to follow the rename', timeoutMs: 3000 })
  })
})

describe('delete', () => {
  it('asks first: Cancel and Escape keep the chat; Delete removes it for good', async () => {
    const { page } = env.tp
    const keep = await seedChat(page, 'Keep me', ['A question worth keeping'])
    const gone = await seedChat(page, 'Delete me', ['A question to forget'])
    await visit(page, `/chat/${keep.id}`)
    await expectSidebar(['Keep me', 'Delete me'], 'both chats')

    const item = sidebarItem(page, 'Delete me')
    // Cancel.
    await item.getByRole('button', { name: 'Delete chat: Delete me' }).click()
    const confirm = item.getByRole('group', { name: 'Delete Delete me?' })
    await confirm.waitFor()
    // The safe choice has the focus.
    expect(await focusedName()).toBe('Cancel delete: Delete me')
    await confirm.getByRole('button', { name: 'Cancel delete: Delete me' }).click()
    await confirm.waitFor({ state: 'detached' })
    expect(await focusedName()).toBe('Delete chat: Delete me')
    // Escape.
    await item.getByRole('button', { name: 'Delete chat: Delete me' }).click()
    await confirm.waitFor()
    await page.keyboard.press('Escape')
    await confirm.waitFor({ state: 'detached' })
    await expectSidebar(['Keep me', 'Delete me'], 'both chats after cancelling')
    expect((await page.request.get(`/api/chats/${gone.id}`)).status()).toBe(200)

    // Confirm.
    await item.getByRole('button', { name: 'Delete chat: Delete me' }).click()
    await confirm.getByRole('button', { name: 'Confirm delete: Delete me' }).click()
    await expectSidebar(['Keep me'], 'the deleted chat gone')
    // The chat being read stays on screen.
    expect(chatIdOf(page)).toBe(keep.id)
    expect(await articles(page).count()).toBe(2)
    expect((await page.request.get(`/api/chats/${gone.id}`)).status()).toBe(404)

    await page.reload()
    await expectSidebar(['Keep me'], 'still gone after a reload')
    // The app's own confirmation, not the browser's dialog.
    expect(env.tp.dialogs).toEqual([])
    expect(env.tp.problems).toEqual([])
  })

  it('deleting the chat being viewed goes to a new, empty chat and the chat stays gone', async () => {
    const { page } = env.tp
    const other = await seedChat(page, 'Other chat')
    const viewed = await seedChat(page, 'Viewed chat', ['What is on screen?'])
    await visit(page, `/chat/${viewed.id}`)
    await waitForAssistantStatus(page, 'done')

    const item = sidebarItem(page, 'Viewed chat')
    await item.getByRole('button', { name: 'Delete chat: Viewed chat' }).click()
    await item.getByRole('button', { name: 'Confirm delete: Viewed chat' }).click()
    await page.waitForURL(u => new URL(u).pathname === '/')
    await expectSidebar(['Other chat'], 'only the other chat')
    expect(await articles(page).count()).toBe(0)
    expect((await listChats(page)).map(c => c.id)).toEqual([other.id])

    await page.reload()
    await expectSidebar(['Other chat'], 'still gone after a reload')
    // Its address now says it is not there.
    await visit(page, `/chat/${viewed.id}`)
    await page.getByRole('heading', { name: 'Chat not found' }).waitFor()
    expect(env.tp.problems.filter(p => !/404|Not Found/i.test(p))).toEqual([])
  })

  it('deleting a chat while its answer streams stops the answer upstream and leaves the chat', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: Array.from({ length: 200 }, (_, i) => `word${i} `), delayMs: 40 })
    await visit(page, '/')
    await sendMessage(page, 'Talk for a long time')
    const chatId = await waitForChatPage(page)
    const completion = await env.fake.waitForCompletion(env.base)
    await until(() => answerText(lastAssistant(page)).catch(() => ''), t => t.includes('word3'), { what: 'some streamed text' })

    const item = sidebarItem(page, 'Talk for a long time')
    await item.getByRole('button', { name: 'Delete chat: Talk for a long time' }).click()
    await item.getByRole('button', { name: 'Confirm delete: Talk for a long time' }).click()
    await page.waitForURL(u => new URL(u).pathname === '/')
    expect(await completion.outcome).toBe('aborted')
    await expectSidebar([], 'no chats left')
    expect((await page.request.get(`/api/chats/${chatId}`)).status()).toBe(404)
    expect(await articles(page).count()).toBe(0)
    expect(env.tp.problems).toEqual([])
  })
})

describe('regenerate', () => {
  it('replaces the last answer with a new one; the old text is gone after a reload; the question is not repeated', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['First ', 'version ', 'of the answer.'], delayMs: 5 }, { chunks: ['A ', 'second ', 'take.'], delayMs: 20 })
    await visit(page, '/')
    await sendMessage(page, 'Explain the tides')
    const chatId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(lastAssistant(page))).toBe('First version of the answer.')

    await lastAssistant(page).getByRole('button', { name: 'Regenerate' }).click()
    await until(() => answerText(lastAssistant(page)).catch(() => ''), t => t === 'A second take.', { what: 'the new answer' })
    await waitForAssistantStatus(page, 'done')
    expect(await articles(page, 'user').count()).toBe(1)
    expect(await articles(page, 'assistant').count()).toBe(1)
    expect(await page.getByText('First version').count()).toBe(0)

    // The model was asked the same question once, without the answer it replaces.
    const asked = env.completions()
    expect(asked).toHaveLength(2)
    const messages = asked[1]!.body.messages as { role: string, content: string }[]
    expect(messages.filter(m => m.role === 'user').map(m => m.content)).toEqual(['Explain the tides'])
    expect(messages.some(m => m.content.includes('First version'))).toBe(false)

    await page.reload()
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(lastAssistant(page))).toBe('A second take.')
    expect(await articles(page, 'user').count()).toBe(1)
    expect(await page.getByText('First version').count()).toBe(0)
    const stored = await fetchChat(page, chatId)
    expect(stored.messages.map(m => [m.role, m.content])).toEqual([['user', 'Explain the tides'], ['assistant', 'A second take.']])
    expect(env.tp.problems).toEqual([])
  })

  it('only the last answer can be regenerated; earlier ones stay; the chat\'s picked model answers', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Answer one.'] }, { chunks: ['Answer two.'] }, { chunks: ['Answer two, again.'] })
    await visit(page, '/')
    await sendMessage(page, 'Question one')
    const chatId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    await page.getByRole('combobox', { name: 'Model' }).selectOption('beta-model')
    await until(() => fetchChat(page, chatId), c => c.model === 'beta-model', { what: 'the picked model to be kept' })
    await sendMessage(page, 'Question two')
    await until(() => articles(page, 'assistant').count(), n => n === 2, { what: 'a second answer' })
    await waitForAssistantStatus(page, 'done')

    expect(await articles(page, 'assistant').first().getByRole('button', { name: 'Regenerate' }).count()).toBe(0)
    await lastAssistant(page).getByRole('button', { name: 'Regenerate' }).click()
    await until(() => answerText(lastAssistant(page)).catch(() => ''), t => t === 'Answer two, again.', { what: 'the regenerated answer' })
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(articles(page, 'assistant').first())).toBe('Answer one.')
    expect(await userTexts()).toEqual(['Question one', 'Question two'])
    expect(env.completions().map(c => c.body.model)).toEqual([MODELS[0], 'beta-model', 'beta-model'])
    const history = env.completions()[2]!.body.messages as { role: string, content: string }[]
    expect(history.filter(m => m.role !== 'system').map(m => m.content)).toEqual(['Question one', 'Answer one.', 'Question two'])
  })
})

describe('regenerate a chat opened from the list', () => {
  it('works on a chat loaded from the server, not only on one just streamed', async () => {
    const { page } = env.tp
    env.fake.enqueue({ chunks: ['Old answer from earlier.'] })
    const chat = await seedChat(page, 'Loaded chat', ['An older question'])
    env.fake.enqueue({ chunks: ['Fresh ', 'answer.'], delayMs: 10 })
    await visit(page, `/chat/${chat.id}`)
    await waitForAssistantStatus(page, 'done')
    expect(await answerText(lastAssistant(page))).toBe('Old answer from earlier.')
    await lastAssistant(page).getByRole('button', { name: 'Regenerate' }).click()
    await until(() => answerText(lastAssistant(page)).catch(() => ''), t => t === 'Fresh answer.', { what: 'the regenerated answer' })
    await waitForAssistantStatus(page, 'done')
    expect(await articles(page).count()).toBe(2)
    expect((await fetchChat(page, chat.id)).messages.map(m => m.content)).toEqual(['An older question', 'Fresh answer.'])
  })
})

describe('copy', () => {
  it('"Copy answer" copies the markdown; a code block\'s Copy copies only its code', async () => {
    const { page, context } = env.tp
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.flume.url })
    const code = 'const answer = 42\nconsole.log(`answer: ${answer}`)'
    const markdown = `Here is **the** snippet:\n\n\`\`\`js\n${code}\n\`\`\`\n\nRun it with *node*.`
    env.fake.enqueue({ chunks: markdown.match(/[\s\S]{1,9}/g)!, delayMs: 5 })
    await visit(page, '/')
    await sendMessage(page, 'Show me a snippet')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const answer = lastAssistant(page)

    const clipboard = () => page.evaluate(() => navigator.clipboard.readText())
    await page.evaluate(() => navigator.clipboard.writeText('before'))
    await answer.getByRole('button', { name: 'Copy answer' }).click()
    // Says so for a moment.
    await answer.getByRole('button', { name: 'Copy answer' }).filter({ hasText: 'Copied' }).waitFor({ timeout: 1000 })
    await until(clipboard, t => t !== 'before', { what: 'the clipboard to change' })
    expect(await clipboard()).toBe(markdown)

    await answer.getByRole('button', { name: 'Copy code' }).click()
    await answer.getByRole('button', { name: 'Copy code' }).filter({ hasText: 'Copied' }).waitFor({ timeout: 1000 })
    await until(clipboard, t => t !== markdown, { what: 'the clipboard to change again' })
    expect(await clipboard()).toBe(code)
    expect(env.tp.problems).toEqual([])
  })
})

describe('model picker', () => {
  it('the picked model answers the next question, is remembered for that chat only, and a new chat uses the default', async () => {
    const { page } = env.tp
    const picker = page.getByRole('combobox', { name: 'Model' })
    await visit(page, '/')
    await sendMessage(page, 'First question')
    const firstId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect((await env.fake.waitForCompletion(env.base)).body.model).toBe(MODELS[0])

    // The list is the upstream's, the default selected.
    await expect.poll(() => picker.locator('option').allInnerTexts()).toEqual(MODELS)
    expect(await picker.inputValue()).toBe(MODELS[0])

    await picker.selectOption('gamma-model')
    await until(() => fetchChat(page, firstId), c => c.model === 'gamma-model', { what: 'the chat to keep the picked model' })
    await sendMessage(page, 'Second question')
    await until(async () => env.completions().length, n => n === 2, { what: 'the second completion request' })
    expect(env.completions()[1]!.body.model).toBe('gamma-model')
    await waitForAssistantStatus(page, 'done', { index: 1 })

    // Remembered after a reload.
    await page.reload()
    await waitForAssistantStatus(page, 'done')
    expect(await picker.inputValue()).toBe('gamma-model')

    // A new chat uses the default, in the request and in the picker.
    await sidebar(page).getByRole('link', { name: 'New chat' }).click()
    await page.waitForURL(u => new URL(u).pathname === '/')
    await sendMessage(page, 'A brand new chat')
    await page.waitForURL(u => /\/chat\//.test(u.pathname) && !u.pathname.endsWith(firstId))
    await waitForAssistantStatus(page, 'done')
    expect(env.completions()[2]!.body.model).toBe(MODELS[0])
    expect(await picker.inputValue()).toBe(MODELS[0])

    // And the first chat still has its own.
    await sidebar(page).getByRole('link', { name: 'First question', exact: true }).click()
    await page.waitForURL(u => new URL(u).pathname.endsWith(firstId))
    await until(() => picker.inputValue(), v => v === 'gamma-model', { what: 'the first chat\'s model in the picker' })
    expect(env.tp.problems).toEqual([])
  })
})
