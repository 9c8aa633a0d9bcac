import type { Chat, PostMessageResponse } from '#shared/schemas'

const TITLE_LENGTH = 60
const DAY_MS = 86_400_000
/** After an answer settles, the generated title lands a moment later: look again at these delays. */
export const TITLE_FOLLOW_UP_MS = [1500, 4000] as const
/** Only a chat started this recently can still be waiting for its generated title. */
const TITLE_FRESH_MS = 10 * 60_000

/** A short title from the first message: its first line, cut at a word. */
export function titleFrom(content: string): string {
  const line = content.trim().split('\n')[0]!.trim()
  if (line.length <= TITLE_LENGTH) return line
  const cut = line.slice(0, TITLE_LENGTH)
  const space = cut.lastIndexOf(' ')
  return `${(space > 20 ? cut.slice(0, space) : cut).trimEnd()}…`
}

export interface ChatGroup { label: string, chats: Chat[] }

/** Chats (in the server's order: newest first) by the local day they were last updated: Today, Yesterday, Previous 7 days, Older. */
export function groupChats(chats: Chat[], now = new Date()): ChatGroup[] {
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime()
  const bounds: [string, number][] = [
    ['Today', today],
    ['Yesterday', today - DAY_MS],
    ['Previous 7 days', today - 7 * DAY_MS],
    ['Older', -Infinity],
  ]
  const groups = bounds.map(([label]) => ({ label, chats: [] as Chat[] }))
  for (const chat of chats) {
    const at = Date.parse(chat.updatedAt)
    groups[bounds.findIndex(([, start]) => at >= start)]!.chats.push(chat)
  }
  return groups.filter(g => g.chats.length)
}

/** The person's chats, newest first, shared by the sidebar and the pages. */
export function useChats() {
  const { data, error, refresh, status } = useFetch<Chat[]>('/api/chats', {
    key: 'chats',
    default: () => [],
  })

  /** Creates a chat and sends its first message; the answer streams on the chat's page. */
  async function start(content: string): Promise<Chat> {
    const created = await $fetch<Chat>('/api/chats', { method: 'POST', body: { title: titleFrom(content) } })
    await $fetch<PostMessageResponse>(`/api/chats/${encodeURIComponent(created.id)}/messages`, {
      method: 'POST',
      body: { content },
    })
    void refresh()
    return created
  }

  async function remove(chatId: string) {
    await $fetch(`/api/chats/${encodeURIComponent(chatId)}`, { method: 'DELETE' })
    data.value = data.value.filter(c => c.id !== chatId)
    clearNuxtState([`flume:chat:${chatId}`, `flume:chat:${chatId}:messages`])
  }

  async function rename(chatId: string, title: string): Promise<Chat> {
    const chat = await $fetch<Chat>(`/api/chats/${encodeURIComponent(chatId)}`, { method: 'PATCH', body: { title } })
    data.value = data.value.map(c => (c.id === chatId ? chat : c))
    return chat
  }

  /** The chats whose title or messages contain `query` (server-side, case-insensitive). */
  function search(query: string): Promise<Chat[]> {
    return $fetch<Chat[]>('/api/chats', { query: { q: query } })
  }

  /**
   * Call once (the sidebar does): whenever the list is fetched by someone else (an answer
   * settled), fetch it again at TITLE_FOLLOW_UP_MS while the newest, recent chat keeps the same
   * title, so its generated title shows up without a reload. At most two extra requests each time.
   */
  function followTitles() {
    let timers: ReturnType<typeof setTimeout>[] = []
    let own = false
    const clear = () => {
      timers.forEach(clearTimeout)
      timers = []
    }
    const again = async (chatId: string, title: string) => {
      own = true
      try {
        await refresh()
      }
      finally {
        own = false
      }
      const newest = data.value[0]
      if (newest?.id !== chatId || newest.title !== title) clear()
    }
    // Sync, so that the list our own refresh brings is told apart from anyone else's.
    watch(data, (chats) => {
      if (own || import.meta.server) return
      clear()
      const newest = chats[0]
      if (!newest || Date.now() - Date.parse(newest.createdAt) > TITLE_FRESH_MS) return
      timers = TITLE_FOLLOW_UP_MS.map(ms => setTimeout(() => void again(newest.id, newest.title), ms))
    }, { flush: 'sync' })
    tryOnScopeDispose(clear)
  }

  return { chats: data, error, status, refresh, start, remove, rename, search, followTitles }
}
