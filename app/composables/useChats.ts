import type { Attachment, Chat, ChatPage, CreateChatResponse, Message } from '#shared/schemas'
import { CHAT_PAGE } from '#shared/chat'
import { titleFrom } from '#shared/titles'
import { openStreamEarly } from './useAnswerStreams'

const DAY_MS = 86_400_000
/** After an answer settles, the generated title lands a moment later: look again at these delays. */
export const TITLE_FOLLOW_UP_MS = [1500, 4000] as const
/** Only a chat started this recently can still be waiting for its generated title. */
const TITLE_FRESH_MS = 10 * 60_000
/** While a listed chat's answer is being written (elsewhere too), look at the list this often. */
export const STREAMING_POLL_MS = 2500
/** A started chat joins the list when its page shows, or after this long at the latest. */
const HAND_OVER_MS = 1000

/** Chats just started here whose state is already filled: their page need not fetch them. */
const handedOver = new Set<string>()

/** True once for a chat handed over by `useChats().start`: its page can skip loading it. */
export function takeHandOver(chatId: string): boolean {
  return handedOver.delete(chatId)
}

/** A list answer of either shape: a page, or every chat (a server or a test without paging). */
export function asChatPage(body: Chat[] | ChatPage): ChatPage {
  return Array.isArray(body) ? { chats: body, next: null } : body
}

/** Whether `a` comes after `b` in the list's order (updated, then created, then id; newest first). */
function comesAfter(a: Chat, b: Chat): boolean {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt < b.updatedAt
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt
  return a.id < b.id
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

/**
 * The person's chats, newest first, shared by the sidebar and the pages. The first page is
 * fetched (on the server for the first render) and refreshed as a whole; `loadMore` appends the
 * pages after it (docs/paging.md), which refreshes leave as they are.
 */
export function useChats() {
  // The pages after the first, once one was asked for (null: none yet), and the cursor after them.
  const older = useState<ChatPage | null>('flume:chats:older', () => null)
  const loadingMore = useState('flume:chats:loading', () => false)
  const { data: first, error, refresh, status } = useFetch(apiPaths.chats(), {
    key: 'chats',
    query: { limit: CHAT_PAGE.default },
    default: (): ChatPage => ({ chats: [], next: null }),
    transform: (body: Chat[] | ChatPage) => {
      const page = asChatPage(body)
      if (import.meta.client) keepPassedOver(page)
      return page
    },
  })

  /**
   * A refreshed first page ends earlier when chats moved up into it: the ones it pushed out are
   * still there, after it; they join the pages after it instead of vanishing until loaded again.
   */
  function keepPassedOver(page: ChatPage) {
    const boundary = page.chats.at(-1)
    if (page.next === null || !boundary) return
    const inPage = new Set(page.chats.map(c => c.id))
    const passed = first.value.chats.filter(c => !inPage.has(c.id) && comesAfter(c, boundary))
    if (!passed.length) return
    const ids = new Set(passed.map(c => c.id))
    older.value = older.value
      ? { ...older.value, chats: [...passed, ...older.value.chats.filter(c => !ids.has(c.id))] }
      : { chats: passed, next: page.next }
  }

  /** Every chat loaded so far, in the list's order (a chat in the first page is shown there only). */
  const data = computed<Chat[]>(() => {
    const rest = older.value?.chats ?? []
    if (!rest.length) return first.value.chats
    const inFirst = new Set(first.value.chats.map(c => c.id))
    return [...first.value.chats, ...rest.filter(c => !inFirst.has(c.id))]
  })
  /** Where the next page starts; null when every chat is loaded. */
  const next = computed(() => (older.value ? older.value.next : first.value.next))

  /** Applies `change` to every loaded page. */
  function edit(change: (chats: Chat[]) => Chat[]) {
    first.value = { ...first.value, chats: change(first.value.chats) }
    if (older.value) older.value = { ...older.value, chats: change(older.value.chats) }
  }

  /** Loads the page after the chats loaded so far (the sidebar, scrolled near its end). */
  async function loadMore(): Promise<void> {
    const before = next.value
    if (!before || loadingMore.value) return
    loadingMore.value = true
    try {
      const page = asChatPage(await $fetch<Chat[] | ChatPage>(apiPaths.chats(), { query: { limit: CHAT_PAGE.default, before } }))
      const loaded = older.value?.chats ?? []
      const ids = new Set(loaded.map(c => c.id))
      older.value = { chats: [...loaded, ...page.chats.filter(c => !ids.has(c.id))], next: page.next }
    }
    finally {
      loadingMore.value = false
    }
  }

  /**
   * Creates a chat with its first message; the answer streams on the chat's page. The answer
   * already holds everything that page shows, so it is handed to it (see handOver): it opens
   * the stream at once instead of fetching the chat first.
   */
  async function start(content: string, attachments: readonly Attachment[] = []): Promise<Chat> {
    // One request: the chat, its question (and its files) and the answer's start (one transaction on the server).
    const files = attachments.length ? { attachments: attachments.map(file => file.id) } : {}
    const title = titleFrom(content.trim() || attachments[0]?.name || content)
    const created = await $fetch<CreateChatResponse>(apiPaths.chats(), { method: 'POST', body: { title, content, ...files } })
    const { messages = [], streamUrl, ...chat } = created
    // The answer is followed from here on, while the chat's page loads (its useChat takes over).
    const answer = messages.at(-1)
    if (streamUrl && answer) openStreamEarly(answer.id, streamUrl)
    handOver(chat, messages)
    return chat
  }

  /**
   * Fills the state useChat reads (`flume:chat:<id>`, `...:messages`) and tells the chat page it
   * need not fetch the chat (takeHandOver), so it follows the answer straight away. Only that next
   * load is skipped; any later visit fetches the chat as usual.
   */
  function handOver(chat: Chat, messages: Message[]) {
    if (import.meta.server) return
    const nuxtApp = useNuxtApp()
    useState<Chat | null>(`flume:chat:${chat.id}`).value = chat
    useState<Message[]>(`flume:chat:${chat.id}:messages`).value = messages
    handedOver.add(chat.id)
    // Once its page shows (not before: that render comes first), the chat joins the list as
    // answering; followStreaming brings the server's list from there.
    let done = false
    const after = () => {
      if (done) return
      done = true
      handedOver.delete(chat.id)
      edit(chats => chats.filter(c => c.id !== chat.id))
      first.value = { ...first.value, chats: [{ ...chat, streaming: true }, ...first.value.chats] }
    }
    nuxtApp.hooks.hookOnce('page:finish', after)
    setTimeout(after, HAND_OVER_MS)
  }

  async function remove(chatId: string) {
    await $fetch(apiPaths.chat(chatId), { method: 'DELETE' })
    edit(chats => chats.filter(c => c.id !== chatId))
    clearNuxtState([`flume:chat:${chatId}`, `flume:chat:${chatId}:messages`])
  }

  async function rename(chatId: string, title: string): Promise<Chat> {
    const chat = await $fetch<Chat>(apiPaths.chat(chatId), { method: 'PATCH', body: { title } })
    // Merged: the answer is no less running (`streaming`) for the chat's new name.
    edit(chats => chats.map(c => (c.id === chatId ? { ...c, ...chat } : c)))
    return chat
  }

  /** A page of the chats whose title or messages contain `query` (server-side, case-insensitive), after `before`. */
  async function search(query: string, before?: string): Promise<ChatPage> {
    return asChatPage(await $fetch<Chat[] | ChatPage>(apiPaths.chats(), { query: { q: query, limit: CHAT_PAGE.default, ...(before ? { before } : {}) } }))
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
      const newest = first.value.chats[0]
      if (newest?.id !== chatId || newest.title !== title) clear()
    }
    // Sync, so that the list our own refresh brings is told apart from anyone else's.
    watch(first, ({ chats }) => {
      if (own || import.meta.server) return
      clear()
      // An answer still being written: no title yet, and followStreaming looks again anyway.
      if (chats.some(c => c.streaming === true)) return
      const newest = chats[0]
      if (!newest || Date.now() - Date.parse(newest.createdAt) > TITLE_FRESH_MS) return
      timers = TITLE_FOLLOW_UP_MS.map(ms => setTimeout(() => void again(newest.id, newest.title), ms))
    }, { flush: 'sync' })
    tryOnScopeDispose(clear)
  }

  /**
   * Call once (the sidebar does): while a listed chat has an answer being written (here or in
   * another tab), fetch the list every STREAMING_POLL_MS while the page is visible, so its
   * streaming mark goes when the answer ends. No requests otherwise.
   */
  function followStreaming() {
    const visibility = useDocumentVisibility()
    // The first page is what a refresh brings again; a chat being answered is at its top.
    const streaming = computed(() => first.value.chats.some(c => c.streaming === true))
    const { pause, resume } = useIntervalFn(() => void refresh(), STREAMING_POLL_MS, { immediate: false })
    watch([streaming, visibility], ([on, seen]) => {
      if (on && seen === 'visible') resume()
      else pause()
    }, { immediate: true })
  }

  return { chats: data, next, loadingMore, error, status, refresh, loadMore, start, remove, rename, search, followTitles, followStreaming }
}
