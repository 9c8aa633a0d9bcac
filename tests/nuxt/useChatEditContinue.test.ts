import { describe, expect, it, vi } from 'vitest'
import { registerEndpoint } from '@nuxt/test-utils/runtime'
import { readBody } from 'h3'
import type { Message } from '#shared/schemas'
import { openStreamEarly } from '~/composables/useAnswerStreams'
import { FakeEventSource, lastEventSource, useFakeStreams } from './helpers/fake-stream'
import { chatOf, errorReply, message, serveChat, uid } from './helpers/data'
import { mountChat } from './helpers/use-chat'

/** The chat as its page shows it: mounted and loaded. */
async function loadedChat(chatId: string) {
  const { chat } = await mountChat(chatId)
  await chat.load()
  return chat
}

const frames = useFakeStreams()

describe('useChat().edit', () => {
  it('replaces the edited question and everything after it, and follows the new answer', async () => {
    const chatId = uid('chat')
    const stored: Message[] = [
      message(chatId, { role: 'user', content: 'One' }),
      message(chatId, { role: 'assistant', content: 'First' }),
      message(chatId, { role: 'user', content: 'Two' }),
      message(chatId, { role: 'assistant', content: 'Second' }),
    ]
    serveChat(chatId, stored)
    const edits: { id: string, content: string }[] = []
    const editedId = stored[2]!.id
    registerEndpoint(`/api/chats/${chatId}/messages/${editedId}/edit`, {
      method: 'POST',
      handler: async (event) => {
        const { content } = await readBody<{ content: string }>(event)
        edits.push({ id: editedId, content })
        const userMessage = message(chatId, { role: 'user', content })
        const assistantMessage = message(chatId, { role: 'assistant', status: 'pending' })
        return { userMessage, assistantMessage, streamUrl: `/api/chats/${chatId}/messages/${assistantMessage.id}/stream` }
      },
    })
    const chat = await loadedChat(chatId)
    expect(await chat.edit(editedId, 'Two, better')).toBe(true)
    expect(edits).toEqual([{ id: editedId, content: 'Two, better' }])
    expect(chat.messages.value.map(m => [m.role, m.content])).toEqual([
      ['user', 'One'], ['assistant', 'First'], ['user', 'Two, better'], ['assistant', ''],
    ])
    expect(chat.status.value).toBe('streaming')
    const es = lastEventSource()
    expect(es.url).toBe(`/api/chats/${chatId}/messages/${chat.messages.value[3]!.id}/stream`)
    es.frame({ type: 'delta', text: 'Better answer' }, 13)
    frames.run()
    expect(chat.messages.value[3]!.content).toBe('Better answer')
  })

  it('keeps the chat as it was and reports why when the edit is refused', async () => {
    const chatId = uid('chat')
    const stored: Message[] = [message(chatId, { role: 'user', content: 'One' }), message(chatId, { role: 'assistant', content: 'First' })]
    serveChat(chatId, stored)
    registerEndpoint(`/api/chats/${chatId}/messages/${stored[0]!.id}/edit`, {
      method: 'POST',
      handler: (event) => {
        return errorReply(event, 413, 'too_large', 'The message is longer than 100000 characters.')
      },
    })
    const chat = await loadedChat(chatId)
    expect(await chat.edit(stored[0]!.id, 'x')).toBe(false)
    expect(chat.error.value).toEqual({ code: 'too_large', message: 'The message is longer than 100000 characters.' })
    expect(chat.messages.value.map(m => m.content)).toEqual(['One', 'First'])
    expect(FakeEventSource.instances).toHaveLength(0)
  })
})

describe('useChat().continueAnswer', () => {
  it('reopens a stopped last answer and follows only the text after what it already shows', async () => {
    const chatId = uid('chat')
    const stopped = message(chatId, { role: 'assistant', content: 'Half of ', status: 'stopped' })
    const stored: Message[] = [message(chatId, { role: 'user', content: 'Go' }), stopped]
    serveChat(chatId, stored)
    let calls = 0
    registerEndpoint(`/api/chats/${chatId}/messages/${stopped.id}/continue`, {
      method: 'POST',
      handler: () => {
        calls++
        return { assistantMessage: { ...stopped, status: 'pending' }, streamUrl: `/api/chats/${chatId}/messages/${stopped.id}/stream` }
      },
    })
    const chat = await loadedChat(chatId)
    expect(await chat.continueAnswer()).toBe(true)
    expect(calls).toBe(1)
    expect(chat.messages.value).toHaveLength(2)
    expect(chat.status.value).toBe('streaming')
    const es = lastEventSource()
    expect(es.url).toBe(`/api/chats/${chatId}/messages/${stopped.id}/stream?offset=8`)
    es.frame({ type: 'delta', text: 'the answer.' }, 19)
    frames.run()
    expect(chat.messages.value[1]!.content).toBe('Half of the answer.')
  })

  it('does nothing when the last answer is done', async () => {
    const chatId = uid('chat')
    serveChat(chatId, [message(chatId, { role: 'user', content: 'Go' }), message(chatId, { role: 'assistant', content: 'All.' })])
    const chat = await loadedChat(chatId)
    expect(await chat.continueAnswer()).toBe(false)
    expect(FakeEventSource.instances).toHaveLength(0)
  })
})

describe('useChat: Continue racing the end of the stopped stream', () => {
  it('a late look at the stored chat does not end the continued answer', async () => {
    const chatId = uid('chat')
    const answer = message(chatId, { role: 'assistant', content: 'Half ', status: 'streaming' })
    const stored: Message[] = [message(chatId, { role: 'user', content: 'Go' }), answer]
    let gets = 0
    let release!: () => void
    const slow = new Promise<void>(resolve => (release = resolve))
    registerEndpoint(`/api/chats/${chatId}`, {
      method: 'GET',
      handler: async () => {
        // The first GET loads the page; the one after [DONE] is slow and sees the stopped answer.
        if (++gets === 1) return chatOf(chatId, stored)
        await slow
        return chatOf(chatId, stored.map(m => (m.id === answer.id ? { ...m, status: 'stopped' as const } : m)))
      },
    })
    registerEndpoint(`/api/chats/${chatId}/messages/${answer.id}/continue`, {
      method: 'POST',
      handler: () => ({ assistantMessage: { ...answer, status: 'pending' }, streamUrl: `/api/chats/${chatId}/messages/${answer.id}/stream` }),
    })
    const chat = await loadedChat(chatId)
    const first = lastEventSource()
    first.frame('[DONE]', 5)
    expect(first.closed).toBe(true)
    // The stop landed: the answer shows as stopped, and Continue follows it again.
    chat.messages.value[1]!.status = 'stopped'
    expect(await chat.continueAnswer()).toBe(true)
    const second = lastEventSource()
    expect(second).not.toBe(first)
    release()
    await vi.waitFor(() => expect(gets).toBe(2))
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(chat.messages.value[1]!.status).toBe('pending')
    expect(chat.status.value).toBe('streaming')
    second.frame({ type: 'delta', text: 'and the rest.' }, 18)
    frames.run()
    expect(chat.messages.value[1]!.content).toBe('Half and the rest.')
  })

  it('when the answer was continued elsewhere (409), loads the chat again and follows it', async () => {
    const chatId = uid('chat')
    const answer = message(chatId, { role: 'assistant', content: 'Half ', status: 'stopped' })
    const stored: Message[] = [message(chatId, { role: 'user', content: 'Go' }), answer]
    serveChat(chatId, stored)
    registerEndpoint(`/api/chats/${chatId}/messages/${answer.id}/continue`, {
      method: 'POST',
      handler: (event) => {
        return errorReply(event, 409, 'not_continuable', 'Only the last answer can be continued, once it has stopped or failed.')
      },
    })
    const chat = await loadedChat(chatId)
    // Another tab continued it meanwhile.
    stored[1] = { ...answer, status: 'streaming', content: 'Half and ' }
    expect(await chat.continueAnswer()).toBe(false)
    // No error left under an answer that is visibly going on.
    expect(chat.error.value).toBeNull()
    expect(chat.messages.value[1]).toMatchObject({ status: 'streaming', content: 'Half and ' })
    expect(lastEventSource().url).toBe(`/api/chats/${chatId}/messages/${answer.id}/stream?offset=9`)
  })
})

describe('useChat: a stream opened before the page', () => {
  it('is taken over with the frames that came meanwhile: no second connection, nothing lost or doubled', async () => {
    const chatId = uid('chat')
    const answer = message(chatId, { role: 'assistant', status: 'pending' })
    const url = `/api/chats/${chatId}/messages/${answer.id}/stream`
    openStreamEarly(answer.id, url)
    const early = lastEventSource()
    expect(early.url).toBe(url)
    early.frame({ type: 'delta', text: 'Hello' }, 5)
    early.frame({ type: 'delta', text: ', world' }, 12)

    // As the home page hands the new chat over: its messages are in the state, then its page follows it.
    useState<Message[]>(`flume:chat:${chatId}:messages`).value = [message(chatId, { role: 'user', content: 'Hi' }), answer]
    const { chat } = await mountChat(chatId)
    chat.resume()
    expect(FakeEventSource.instances).toHaveLength(1)
    frames.run()
    expect(chat.messages.value[1]!.content).toBe('Hello, world')
    early.frame({ type: 'delta', text: '!' }, 13)
    // The next batch waits for the commit interval, then for a frame.
    await new Promise(resolve => setTimeout(resolve, 80))
    frames.run()
    expect(chat.messages.value[1]!.content).toBe('Hello, world!')
    expect(chat.status.value).toBe('streaming')
  })

  it('a stream that was not taken over is closed after a while', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    try {
      openStreamEarly(uid('msg'), '/api/chats/x/messages/y/stream')
      const early = lastEventSource()
      vi.advanceTimersByTime(9_000)
      expect(early.closed).toBe(false)
      vi.advanceTimersByTime(2_000)
      expect(early.closed).toBe(true)
    }
    finally {
      vi.useRealTimers()
    }
  })
})
