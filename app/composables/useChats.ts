import type { Chat, PostMessageResponse } from '#shared/schemas'

const TITLE_LENGTH = 60

/** A short title from the first message: its first line, cut at a word. */
export function titleFrom(content: string): string {
  const line = content.trim().split('\n')[0]!.trim()
  if (line.length <= TITLE_LENGTH) return line
  const cut = line.slice(0, TITLE_LENGTH)
  const space = cut.lastIndexOf(' ')
  return `${(space > 20 ? cut.slice(0, space) : cut).trimEnd()}…`
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

  return { chats: data, error, status, refresh, start, remove }
}
