import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { enableAutoUnmount, type VueWrapper } from '@vue/test-utils'
import { mountSuspended, registerEndpoint } from '@nuxt/test-utils/runtime'
import { getQuery, readBody } from 'h3'
import type { Chat } from '#shared/schemas'
import ChatSidebar from '~/components/ChatSidebar.vue'
import { groupChats, STREAMING_POLL_MS } from '~/composables/useChats'
import { uid } from './helpers/data'

enableAutoUnmount(afterEach)

const DAY = 86_400_000

function chat(title: string, ageMs = 0): Chat {
  const at = new Date(Date.now() - ageMs).toISOString()
  return { id: uid('chat'), title, createdAt: at, updatedAt: at }
}

/** GET /api/chats answering `chats` (filtered by `q` like the server), recording every `q`. */
function serveList(chats: Chat[]) {
  const queries: (string | undefined)[] = []
  registerEndpoint('/api/chats', {
    method: 'GET',
    handler: (event) => {
      const q = getQuery(event).q as string | undefined
      queries.push(q)
      return q ? chats.filter(c => c.title.toLowerCase().includes(q.toLowerCase())) : chats
    },
  })
  return queries
}

async function mountSidebar(route = '/') {
  const wrapper = await mountSuspended(ChatSidebar, { route, attachTo: document.body })
  await refreshNuxtData('chats')
  return wrapper
}

const titles = (wrapper: VueWrapper) => wrapper.findAll('.chat-list-link').map(l => l.text())
const button = (wrapper: VueWrapper, name: string) => wrapper.get(`button[aria-label="${name}"]`)

beforeEach(() => {
  clearNuxtData('chats')
})

describe('groupChats', () => {
  it('groups by local day, newest first, leaving out empty groups', () => {
    const now = new Date(2026, 4, 20, 9, 0)
    const at = (d: Date) => ({ id: uid('c'), title: d.toISOString(), createdAt: d.toISOString(), updatedAt: d.toISOString() })
    const earlyToday = at(new Date(2026, 4, 20, 0, 5))
    const lateYesterday = at(new Date(2026, 4, 19, 23, 55))
    const fiveDays = at(new Date(2026, 4, 15, 12))
    const month = at(new Date(2026, 3, 1))
    const groups = groupChats([earlyToday, lateYesterday, fiveDays, month], now)
    expect(groups.map(g => [g.label, g.chats.map(c => c.id)])).toEqual([
      ['Today', [earlyToday.id]],
      ['Yesterday', [lateYesterday.id]],
      ['Previous 7 days', [fiveDays.id]],
      ['Older', [month.id]],
    ])
    expect(groupChats([at(new Date(2026, 4, 20, 8)), earlyToday], now).map(g => g.label)).toEqual(['Today'])
  })
})

describe('ChatSidebar', () => {
  it('shows the chats under day headings, newest first', async () => {
    serveList([chat('Fresh'), chat('Also today', 60_000), chat('Last week', 3 * DAY), chat('Ancient', 40 * DAY)])
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Fresh', 'Also today', 'Last week', 'Ancient']))
    const headings = wrapper.findAll('.sidebar-group-label').map(h => h.text())
    expect(headings).toEqual(['Today', 'Previous 7 days', 'Older'])
    expect(wrapper.get('nav').attributes('aria-label')).toBe('Chats')
    expect(wrapper.findAll('a').some(a => a.text() === 'New chat')).toBe(true)
  })

  it('searches on the server after a pause in typing, and clears back to the full list', async () => {
    const queries = serveList([chat('Rivers of Europe'), chat('Mountains', 1000)])
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Rivers of Europe', 'Mountains']))
    queries.length = 0
    const box = wrapper.get('input[aria-label="Search chats"]')
    await box.setValue('riv')
    await box.setValue('river')
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Rivers of Europe']))
    // Debounced: one request for the last text, not one per keystroke.
    expect(queries).toEqual(['river'])

    await box.setValue('volcano')
    await vi.waitFor(() => expect(wrapper.text()).toContain('No chats match your search.'))
    await box.setValue('')
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Rivers of Europe', 'Mountains']))
  })

  it('renames inline: Enter saves with PATCH, Escape cancels', async () => {
    const target = chat('Old name')
    let chats = [target]
    const patched: unknown[] = []
    registerEndpoint('/api/chats', { method: 'GET', handler: () => chats })
    registerEndpoint(`/api/chats/${target.id}`, {
      method: 'PATCH',
      handler: async (event) => {
        const body = await readBody<{ title: string }>(event)
        patched.push(body)
        chats = [{ ...target, title: body.title }]
        return chats[0]
      },
    })
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Old name']))

    await button(wrapper, 'Rename chat: Old name').trigger('click')
    const input = wrapper.get('input[aria-label="New title for Old name"]')
    expect((input.element as HTMLInputElement).value).toBe('Old name')
    expect(document.activeElement).toBe(input.element)
    await input.setValue('Discarded')
    await input.trigger('keydown', { key: 'Escape' })
    expect(titles(wrapper)).toEqual(['Old name'])
    expect(patched).toEqual([])

    await button(wrapper, 'Rename chat: Old name').trigger('click')
    const again = wrapper.get('input[aria-label="New title for Old name"]')
    await again.setValue('  New name ')
    await again.trigger('keydown', { key: 'Enter' })
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['New name']))
    expect(patched).toEqual([{ title: 'New name' }])
    expect(wrapper.find('input[aria-label^="New title"]').exists()).toBe(false)
  })

  it('a chat renamed while it answers keeps its answering mark', async () => {
    const target = { ...chat('Busy'), streaming: true }
    registerEndpoint('/api/chats', { method: 'GET', handler: () => [target] })
    registerEndpoint(`/api/chats/${target.id}`, {
      method: 'PATCH',
      // As the server answers a PATCH: the chat without the list-only `streaming` field.
      handler: async event => ({ ...chat('x'), id: target.id, title: (await readBody<{ title: string }>(event)).title }),
    })
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(wrapper.findAll('.item-streaming')).toHaveLength(1))
    await button(wrapper, 'Rename chat: Busy').trigger('click')
    const input = wrapper.get('input[aria-label="New title for Busy"]')
    await input.setValue('Still busy')
    await input.trigger('keydown', { key: 'Enter' })
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Still busy']))
    expect(wrapper.findAll('.item-streaming')).toHaveLength(1)
  })

  it('deletes only after an inline confirmation', async () => {
    const [keep, gone] = [chat('Keep me'), chat('Delete me', 1000)]
    let chats = [keep, gone]
    const deleted: string[] = []
    registerEndpoint('/api/chats', { method: 'GET', handler: () => chats })
    registerEndpoint(`/api/chats/${gone.id}`, {
      method: 'DELETE',
      handler: (event) => {
        deleted.push(gone.id)
        chats = [keep]
        event.node.res.statusCode = 204
        return null
      },
    })
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Keep me', 'Delete me']))

    await button(wrapper, 'Delete chat: Delete me').trigger('click')
    expect(deleted).toEqual([])
    await button(wrapper, 'Cancel delete: Delete me').trigger('click')
    expect(wrapper.find('button[aria-label="Confirm delete: Delete me"]').exists()).toBe(false)

    await button(wrapper, 'Delete chat: Delete me').trigger('click')
    await button(wrapper, 'Confirm delete: Delete me').trigger('click')
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Keep me']))
    expect(deleted).toEqual([gone.id])
  })

  it('starts a new chat with Ctrl+Shift+O or Cmd+Shift+O', async () => {
    serveList([chat('Somewhere')])
    const router = useRouter()
    await mountSidebar('/chat/abc')
    await router.push('/chat/abc')
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'O', ctrlKey: true, shiftKey: true, bubbles: true }))
    await vi.waitFor(() => expect(router.currentRoute.value.path).toBe('/'))

    await router.push('/chat/abc')
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'o', shiftKey: true, bubbles: true }))
    await new Promise(r => setTimeout(r, 50))
    expect(router.currentRoute.value.path).toBe('/chat/abc')
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'o', metaKey: true, shiftKey: true, bubbles: true }))
    await vi.waitFor(() => expect(router.currentRoute.value.path).toBe('/'))
  })

  it('looks again shortly after an answer settles, so a generated title shows up', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const fresh = chat('Cut from the first message')
      let served = [fresh]
      let gets = 0
      registerEndpoint('/api/chats', { method: 'GET', handler: () => (gets++, served) })
      const wrapper = await mountSidebar()
      await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Cut from the first message']))
      // What useChat does when an answer settles.
      await refreshNuxtData('chats')
      const settledAt = gets
      served = [{ ...fresh, title: 'Generated title' }]
      await vi.advanceTimersByTimeAsync(1600)
      await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Generated title']))
      expect(gets).toBe(settledAt + 1)
      // The title changed: no second look, and nothing more afterwards.
      await vi.advanceTimersByTimeAsync(10_000)
      expect(gets).toBe(settledAt + 1)
    }
    finally {
      vi.useRealTimers()
    }
  })
})

describe('ChatSidebar: answers being written', () => {
  const MIN = 60_000
  /** Older than the title follow-up window, so only the streaming poll asks for the list. */
  const settled = (title: string, streaming?: boolean): Chat => ({ ...chat(title, 30 * MIN), ...(streaming === undefined ? {} : { streaming }) })
  const marks = (wrapper: VueWrapper) => wrapper.findAll('.chat-list-item').map(item => item.find('.item-streaming').exists())

  function serveCounted(initial: Chat[]) {
    const state = { served: initial, gets: 0 }
    registerEndpoint('/api/chats', { method: 'GET', handler: () => (state.gets++, state.served) })
    return state
  }

  function setVisibility(value: DocumentVisibilityState) {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => value })
    document.dispatchEvent(new Event('visibilitychange'))
  }

  afterEach(() => {
    vi.useRealTimers()
    setVisibility('visible')
  })

  it('marks a chat whose answer is being written, for sight and for screen readers', async () => {
    serveList([settled('Writing', true), settled('Quiet', false), settled('Plain')])
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Writing', 'Quiet', 'Plain']))
    expect(marks(wrapper)).toEqual([true, false, false])
    const mark = wrapper.get('.item-streaming')
    expect(mark.text()).toBe('Answering')
    const link = wrapper.get('.chat-list-link')
    expect(link.attributes('aria-describedby')).toBe(mark.attributes('id'))
    expect(wrapper.findAll('.chat-list-link')[1]!.attributes('aria-describedby')).toBeUndefined()
  })

  it('looks again every few seconds while an answer is written, and stops once none is', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const list = serveCounted([settled('Elsewhere', true), settled('Other')])
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(marks(wrapper)).toEqual([true, false]))
    const before = list.gets
    await vi.advanceTimersByTimeAsync(STREAMING_POLL_MS + 10)
    expect(list.gets).toBe(before + 1)
    expect(marks(wrapper)).toEqual([true, false])

    // The answer finished in another tab: the next look clears the mark, then the polling stops.
    list.served = [settled('Elsewhere', false), settled('Other')]
    await vi.advanceTimersByTimeAsync(STREAMING_POLL_MS)
    await vi.waitFor(() => expect(marks(wrapper)).toEqual([false, false]))
    const after = list.gets
    await vi.advanceTimersByTimeAsync(5 * STREAMING_POLL_MS)
    expect(list.gets).toBe(after)
  })

  it('does not poll while the tab is hidden, and starts again when it is shown', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const list = serveCounted([settled('Elsewhere', true)])
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(marks(wrapper)).toEqual([true]))
    setVisibility('hidden')
    await nextTick()
    const before = list.gets
    await vi.advanceTimersByTimeAsync(4 * STREAMING_POLL_MS)
    expect(list.gets).toBe(before)
    setVisibility('visible')
    await nextTick()
    await vi.advanceTimersByTimeAsync(STREAMING_POLL_MS + 10)
    expect(list.gets).toBe(before + 1)
  })

  it('makes no polling requests when no chat is being answered', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const list = serveCounted([settled('Done', false), settled('Older')])
    const wrapper = await mountSidebar()
    await vi.waitFor(() => expect(titles(wrapper)).toEqual(['Done', 'Older']))
    const before = list.gets
    await vi.advanceTimersByTimeAsync(5 * STREAMING_POLL_MS)
    expect(list.gets).toBe(before)
  })
})
