import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { enableAutoUnmount } from '@vue/test-utils'
import { mountSuspended, registerEndpoint } from '@nuxt/test-utils/runtime'
import type { Message } from '#shared/schemas'
import ChatPage from '~/pages/chat/[id].vue'
import { lastEventSource, useFakeStreams } from './helpers/fake-stream'
import { chatOf, message, serveChat, uid } from './helpers/data'

enableAutoUnmount(afterEach)

const frames = useFakeStreams()

beforeEach(() => {
  registerEndpoint('/api/chats', { method: 'GET', handler: () => [] })
})

async function openChat(chatId: string) {
  const wrapper = await mountSuspended(ChatPage, { route: `/chat/${chatId}`, attachTo: document.body })
  const articles = () => wrapper.findAll('article')
  const button = (name: string) => wrapper.findAll('button').find(b => b.text() === name)
  return { wrapper, articles, button }
}

describe('chat page', () => {
  it('shows each message as an article with its role and status; user text stays plain text', async () => {
    const chatId = uid('chat')
    serveChat(chatId, [
      message(chatId, { role: 'user', content: '**not bold** <b>tag</b>\nsecond line' }),
      message(chatId, { role: 'assistant', content: 'It is **bold**.' }),
    ])
    const { wrapper, articles } = await openChat(chatId)
    expect(articles().map(a => [a.attributes('data-role'), a.attributes('data-status')])).toEqual([
      ['user', 'done'],
      ['assistant', 'done'],
    ])
    expect(articles()[0]!.find('b, strong').exists()).toBe(false)
    expect(articles()[0]!.text()).toContain('**not bold** <b>tag</b>\nsecond line')
    expect(articles()[1]!.find('strong').text()).toBe('bold')
    expect(wrapper.find('textarea[aria-label="Message"]').exists()).toBe(true)
  })

  it('streams an answer after Enter, shows Stop, and stopping keeps the partial text', async () => {
    const chatId = uid('chat')
    const stored: Message[] = []
    const { posted } = serveChat(chatId, stored)
    const { wrapper, articles, button } = await openChat(chatId)
    expect(button('Stop')).toBeUndefined()

    const textarea = wrapper.get('textarea')
    await textarea.setValue('Write a poem')
    await textarea.trigger('keydown', { key: 'Enter' })
    await vi.waitFor(() => expect(articles()).toHaveLength(2))
    expect(posted).toEqual(['Write a poem'])
    expect((textarea.element as HTMLTextAreaElement).value).toBe('')
    expect(articles()[1]!.attributes('data-status')).toBe('pending')
    expect(button('Stop')).toBeDefined()

    const answer = stored[1]!
    lastEventSource().frame({ type: 'delta', text: 'Roses are' }, 9)
    frames.run()
    await nextTick()
    expect(articles()[1]!.attributes('data-status')).toBe('streaming')
    expect(articles()[1]!.text()).toContain('Roses are')

    registerEndpoint(`/api/chats/${chatId}/messages/${answer.id}/stop`, {
      method: 'POST',
      handler: () => ({ ...answer, status: 'stopped', content: 'Roses are red' }),
    })
    await button('Stop')!.trigger('click')
    await vi.waitFor(() => expect(articles()[1]!.attributes('data-status')).toBe('stopped'))
    expect(articles()[1]!.text()).toContain('Roses are red')
    expect(button('Stop')).toBeUndefined()
    expect(lastEventSource().closed).toBe(true)
  })

  it('shows the error of a failed answer with its partial text, and Retry asks for the answer again', async () => {
    const chatId = uid('chat')
    const stored = [
      message(chatId, { role: 'user', content: 'Explain SSE' }),
      message(chatId, {
        role: 'assistant',
        status: 'error',
        content: 'Server-sent events are',
        error: { code: 'upstream_unavailable', message: 'The model server did not answer.' },
      }),
    ]
    const { posted } = serveChat(chatId, stored)
    const failedId = stored[1]!.id
    registerEndpoint(`/api/chats/${chatId}/messages/${failedId}/retry`, {
      method: 'POST',
      handler: () => {
        const assistantMessage = message(chatId, { role: 'assistant', status: 'pending' })
        stored.splice(1, 1, assistantMessage)
        return { assistantMessage, streamUrl: `/api/chats/${chatId}/messages/${assistantMessage.id}/stream` }
      },
    })
    const { articles, button } = await openChat(chatId)
    const failed = articles()[1]!
    expect(failed.attributes('data-status')).toBe('error')
    expect(failed.text()).toContain('Server-sent events are')
    expect(failed.text()).toContain('The model server did not answer.')

    await failed.findAll('button').find(b => b.text() === 'Retry')!.trigger('click')
    await vi.waitFor(() => expect(articles()[1]!.attributes('data-status')).toBe('pending'))
    expect(articles()).toHaveLength(2)
    expect(articles()[1]!.text()).not.toContain('Server-sent events are')
    expect(posted).toEqual([])
    expect(button('Retry')).toBeUndefined()
    expect(button('Stop')).toBeDefined()
  })

  it('Regenerate replaces the last finished answer; the Model picker shows the chat\'s model', async () => {
    const chatId = uid('chat')
    const stored = [
      message(chatId, { role: 'user', content: 'Name a river' }),
      message(chatId, { role: 'assistant', content: 'The Nile.', usage: { promptTokens: 5, completionTokens: 3 } }),
    ]
    registerEndpoint('/api/models', { method: 'GET', handler: () => ({ models: [{ id: 'm-one' }, { id: 'm-two' }], default: 'm-one' }) })
    registerEndpoint(`/api/chats/${chatId}`, { method: 'GET', handler: () => ({ ...chatOf(chatId, stored), model: 'm-two' }) })
    const doneId = stored[1]!.id
    registerEndpoint(`/api/chats/${chatId}/messages/${doneId}/retry`, {
      method: 'POST',
      handler: () => {
        const assistantMessage = message(chatId, { role: 'assistant', status: 'pending' })
        stored.splice(1, 1, assistantMessage)
        return { assistantMessage, streamUrl: `/api/chats/${chatId}/messages/${assistantMessage.id}/stream` }
      },
    })
    const { wrapper, articles, button } = await openChat(chatId)
    const select = wrapper.get('select')
    expect(wrapper.get(`label[for="${select.attributes('id')}"]`).text()).toBe('Model')
    expect((select.element as HTMLSelectElement).value).toBe('m-two')
    expect(articles()[1]!.text()).toContain('5 → 3 tokens')

    await button('Regenerate')!.trigger('click')
    await vi.waitFor(() => expect(articles()[1]!.attributes('data-status')).toBe('pending'))
    expect(articles()).toHaveLength(2)
    expect(articles()[1]!.text()).not.toContain('The Nile.')
    expect(button('Regenerate')).toBeUndefined()
    expect(button('Stop')).toBeDefined()
  })

  it('resumes an answer that was still streaming when the page loaded', async () => {
    const chatId = uid('chat')
    const answer = message(chatId, { role: 'assistant', status: 'streaming', content: 'Half an ans' })
    serveChat(chatId, [message(chatId, { role: 'user', content: 'Q' }), answer])
    const { articles } = await openChat(chatId)
    const es = lastEventSource()
    expect(es.url).toBe(`/api/chats/${chatId}/messages/${answer.id}/stream?offset=11`)
    es.frame({ type: 'delta', text: 'wer.' }, 15)
    frames.run()
    await nextTick()
    expect(articles()[1]!.text()).toContain('Half an answer.')
  })
})
