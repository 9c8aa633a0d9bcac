import { afterEach, describe, expect, it, vi } from 'vitest'
import { enableAutoUnmount } from '@vue/test-utils'
import { mountSuspended, registerEndpoint } from '@nuxt/test-utils/runtime'
import { readBody, setResponseStatus } from 'h3'
import type { Chat } from '#shared/schemas'
import IndexPage from '~/pages/index.vue'
import ChatSidebar from '~/components/ChatSidebar.vue'
import { errorReply, message, uid } from './helpers/data'

enableAutoUnmount(afterEach)

function chat(id: string, title: string): Chat {
  const now = new Date().toISOString()
  return { id, title, createdAt: now, updatedAt: now }
}

describe('starting a chat', () => {
  it('creates the chat with its first message in one request, titled after it, and opens the chat', async () => {
    const chatId = uid('chat')
    const created: unknown[] = []
    registerEndpoint('/api/chats', {
      method: 'POST',
      handler: async (event) => {
        const body = await readBody<{ title: string, content: string }>(event)
        created.push(body)
        const assistantMessage = message(chatId, { role: 'assistant', status: 'pending' })
        setResponseStatus(event, 201)
        return {
          ...chat(chatId, body.title),
          messages: [message(chatId, { role: 'user', content: body.content }), assistantMessage],
          streamUrl: `/api/chats/${chatId}/messages/${assistantMessage.id}/stream`,
        }
      },
    })
    const wrapper = await mountSuspended(IndexPage, { route: '/', attachTo: document.body })
    const textarea = wrapper.get('textarea[aria-label="Message"]')
    await textarea.setValue('How do I stream?\nWith details please.')
    await textarea.trigger('keydown', { key: 'Enter' })
    await vi.waitFor(() => expect(useRouter().currentRoute.value.path).toBe(`/chat/${chatId}`))
    expect(created).toEqual([{ title: 'How do I stream?', content: 'How do I stream?\nWith details please.' }])
    // Handed to the chat page (it follows the answer without fetching the chat first), and
    // listed as answering.
    const messages = useState<{ role: string, status: string }[]>(`flume:chat:${chatId}:messages`).value
    expect(messages.map(m => [m.role, m.status])).toEqual([['user', 'done'], ['assistant', 'pending']])
    expect(useState<Chat | null>(`flume:chat:${chatId}`).value).toMatchObject({ id: chatId, title: 'How do I stream?' })
    expect(useState<Chat | null>(`flume:chat:${chatId}`).value).not.toHaveProperty('streamUrl')
    // The list's first page (docs/paging.md).
    await vi.waitFor(() => expect(useNuxtData<{ chats: Chat[] }>('chats').data.value?.chats[0]).toMatchObject({ id: chatId, streaming: true }), { timeout: 3000 })
  })

  it('when the chat cannot be started, stays on the home page with the text and says why', async () => {
    registerEndpoint('/api/chats', {
      method: 'POST',
      handler: (event) => {
        return errorReply(event, 503, 'unavailable', 'The server is restarting.')
      },
    })
    await useRouter().push('/')
    const wrapper = await mountSuspended(IndexPage, { route: '/', attachTo: document.body })
    const textarea = wrapper.get('textarea[aria-label="Message"]')
    await textarea.setValue('Hello there')
    await textarea.trigger('keydown', { key: 'Enter' })
    await vi.waitFor(() => expect(wrapper.find('.composer-error').exists()).toBe(true))
    expect(wrapper.get('.composer-error').text()).toBe('The server is restarting.')
    expect(useRouter().currentRoute.value.path).toBe('/')
    expect((textarea.element as HTMLTextAreaElement).value).toBe('Hello there')
  })
})

describe('chat list', () => {
  it('lists the chats as the server orders them and deletes one', async () => {
    const [a, b] = [chat(uid('chat'), 'Newest'), chat(uid('chat'), 'Older')]
    let chats = [a, b]
    const deleted: string[] = []
    registerEndpoint('/api/chats', { method: 'GET', handler: () => chats })
    registerEndpoint(`/api/chats/${b.id}`, {
      method: 'DELETE',
      handler: (event) => {
        deleted.push(b.id)
        chats = chats.filter(c => c.id !== b.id)
        event.node.res.statusCode = 204
        return null
      },
    })
    const wrapper = await mountSuspended(ChatSidebar, { route: '/' })
    await vi.waitFor(() => expect(wrapper.findAll('.chat-list-link').map(l => l.text())).toEqual(['Newest', 'Older']))
    expect(wrapper.find('.chat-list-link').attributes('href')).toBe(`/chat/${a.id}`)

    await wrapper.get('button[aria-label="Delete chat: Older"]').trigger('click')
    await wrapper.get('button[aria-label="Confirm delete: Older"]').trigger('click')
    await vi.waitFor(() => expect(wrapper.findAll('.chat-list-link').map(l => l.text())).toEqual(['Newest']))
    expect(deleted).toEqual([b.id])
  })
})
