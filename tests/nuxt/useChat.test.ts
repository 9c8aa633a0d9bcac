import { describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { mountSuspended, registerEndpoint } from '@nuxt/test-utils/runtime'
import { readBody } from 'h3'
import type { Message } from '#shared/schemas'
import { useChat } from '~/composables/useChat'
import { useChats } from '~/composables/useChats'
import { TEXT_COMMIT_INTERVAL } from '~/utils/text-batcher'
import { FakeEventSource, lastEventSource, manualClock, useFakeStreams } from './helpers/fake-stream'
import { errorReply, message, serveChat, uid } from './helpers/data'
import { mountChat } from './helpers/use-chat'

/** POST .../retry as the server answers it: the failed answer is replaced by a pending one. */
function serveRetry(chatId: string, stored: Message[], failedId: string) {
  const retried: string[] = []
  registerEndpoint(`/api/chats/${chatId}/messages/${failedId}/retry`, {
    method: 'POST',
    handler: () => {
      retried.push(failedId)
      const assistantMessage = message(chatId, { role: 'assistant', status: 'pending' })
      stored.splice(stored.findIndex(m => m.id === failedId), 1, assistantMessage)
      return { assistantMessage, streamUrl: `/api/chats/${chatId}/messages/${assistantMessage.id}/stream` }
    },
  })
  return retried
}

const frames = useFakeStreams()

describe('useChat', () => {
  it('sends, streams the answer in batches and closes on [DONE]', async () => {
    const chatId = uid('chat')
    const { posted, stored } = serveChat(chatId)
    const { chat } = await mountChat(chatId)

    expect(await chat.send('Hi there')).toBe(true)
    expect(posted).toEqual(['Hi there'])
    expect(chat.messages.value.map(m => m.role)).toEqual(['user', 'assistant'])
    expect(chat.status.value).toBe('streaming')

    const es = lastEventSource()
    const answer = chat.messages.value[1]!
    expect(es.url).toBe(`/api/chats/${chatId}/messages/${answer.id}/stream`)

    es.frame({ type: 'delta', text: 'Hello' }, 5)
    es.frame({ type: 'delta', text: ', wor' }, 10)
    es.frame({ type: 'delta', text: 'ld' }, 12)
    // Nothing is shown before the next animation frame, and one frame is enough for all three.
    expect(chat.messages.value[1]!.content).toBe('')
    expect(frames.request).toHaveBeenCalledTimes(1)
    frames.run()
    expect(chat.messages.value[1]!.content).toBe('Hello, world')
    expect(chat.messages.value[1]!.status).toBe('streaming')

    es.frame({ type: 'delta', text: '!' }, 13)
    es.frame({ type: 'usage', promptTokens: 3, completionTokens: 4 }, 13)
    // A non-text frame first shows the text that came before it.
    expect(chat.messages.value[1]!.content).toBe('Hello, world!')
    expect(chat.messages.value[1]!.usage).toEqual({ promptTokens: 3, completionTokens: 4 })

    Object.assign(stored[1]!, { status: 'done', content: 'Hello, world!' })
    es.frame('[DONE]', 13)
    expect(es.closed).toBe(true)
    await vi.waitFor(() => expect(chat.messages.value[1]!.status).toBe('done'))
    expect(chat.messages.value[1]!.content).toBe('Hello, world!')
    expect(chat.status.value).toBe('idle')
    expect(FakeEventSource.instances).toHaveLength(1)
  })

  it('while text keeps coming, shows it at most every interval, and all of it at once when the answer ends', async () => {
    const chatId = uid('chat')
    const { stored } = serveChat(chatId)
    const { chat } = await mountChat(chatId)
    await chat.send('Count')
    const clock = manualClock()
    const es = lastEventSource()
    const shown = () => chat.messages.value[1]!.content

    // The first words show in the next frame.
    es.frame({ type: 'delta', text: 'One' }, 3)
    expect(frames.pending).toBe(1)
    frames.run()
    expect(shown()).toBe('One')

    // Then no frame is even asked for until the interval has passed since that update.
    es.frame({ type: 'delta', text: ' two' }, 7)
    clock.advance(TEXT_COMMIT_INTERVAL - 1)
    es.frame({ type: 'delta', text: ' three' }, 13)
    expect(frames.pending).toBe(0)
    frames.run()
    expect(shown()).toBe('One')
    clock.advance(1)
    expect(frames.pending).toBe(1)
    frames.run()
    expect(shown()).toBe('One two three')

    // The end of the answer shows its last words without waiting for the interval or a frame.
    es.frame({ type: 'delta', text: ' four' }, 18)
    expect(shown()).toBe('One two three')
    Object.assign(stored[1]!, { status: 'done', content: 'One two three four' })
    es.frame('[DONE]', 18)
    expect(shown()).toBe('One two three four')
    expect(frames.pending).toBe(0)
    vi.useRealTimers()
    await vi.waitFor(() => expect(chat.messages.value[1]!.status).toBe('done'))
    expect(shown()).toBe('One two three four')
  })

  it('shows text still waiting for its batch at once when an error frame comes', async () => {
    const chatId = uid('chat')
    serveChat(chatId)
    const { chat } = await mountChat(chatId)
    await chat.send('Count')
    const clock = manualClock()
    const es = lastEventSource()
    es.frame({ type: 'delta', text: 'Partial' }, 7)
    frames.run()
    es.frame({ type: 'delta', text: ' answer' }, 14)
    clock.advance(TEXT_COMMIT_INTERVAL / 2)
    es.frame({ type: 'error', code: 'upstream_unavailable', message: 'The model server did not answer.' }, 14)
    expect(chat.messages.value[1]!.content).toBe('Partial answer')
    expect(chat.messages.value[1]!.status).toBe('error')
  })

  it('ignores text it already has when a frame repeats it after a reconnect', async () => {
    const chatId = uid('chat')
    serveChat(chatId)
    const { chat } = await mountChat(chatId)
    await chat.send('Count')
    const es = lastEventSource()
    es.frame({ type: 'delta', text: 'one two' }, 7)
    es.fail(FakeEventSource.CONNECTING)
    expect(chat.reconnecting.value).toBe(true)
    es.frame({ type: 'delta', text: 'two three' }, 13)
    frames.run()
    expect(chat.reconnecting.value).toBe(false)
    expect(chat.messages.value[1]!.content).toBe('one two three')
  })

  it('after a reload, follows a streaming answer from the text it already has', async () => {
    const chatId = uid('chat')
    const question = message(chatId, { role: 'user', content: 'Tell me' })
    const answer = message(chatId, { role: 'assistant', status: 'streaming', content: 'Once upon' })
    serveChat(chatId, [question, answer])
    const { chat } = await mountChat(chatId)
    await chat.load()

    const es = lastEventSource()
    expect(es.url).toBe(`/api/chats/${chatId}/messages/${answer.id}/stream?offset=9`)
    expect(FakeEventSource.instances).toHaveLength(1)

    chat.resume()
    expect(FakeEventSource.instances).toHaveLength(1)

    es.frame({ type: 'delta', text: ' a time' }, 16)
    frames.run()
    expect(chat.messages.value[1]!.content).toBe('Once upon a time')
  })

  it('does not open a stream for finished answers', async () => {
    const chatId = uid('chat')
    serveChat(chatId, [
      message(chatId, { role: 'user', content: 'Q' }),
      message(chatId, { role: 'assistant', status: 'done', content: 'A' }),
    ])
    const { chat } = await mountChat(chatId)
    await chat.load()
    expect(FakeEventSource.instances).toHaveLength(0)
    expect(chat.status.value).toBe('idle')
  })

  it('stop() asks the server to stop and shows the stopped answer with its text', async () => {
    const chatId = uid('chat')
    const { stored } = serveChat(chatId)
    const stopCalls: string[] = []
    const { chat } = await mountChat(chatId)
    await chat.send('Write a long story')
    const answerId = chat.messages.value[1]!.id
    registerEndpoint(`/api/chats/${chatId}/messages/${answerId}/stop`, {
      method: 'POST',
      handler: () => {
        stopCalls.push(answerId)
        return { ...stored[1]!, status: 'stopped', content: 'Once upon a' }
      },
    })
    const es = lastEventSource()
    es.frame({ type: 'delta', text: 'Once upon' }, 9)
    frames.run()

    await chat.stop()
    expect(stopCalls).toEqual([answerId])
    expect(es.closed).toBe(true)
    expect(chat.messages.value[1]!.status).toBe('stopped')
    expect(chat.messages.value[1]!.content).toBe('Once upon a')
    expect(chat.status.value).toBe('idle')
  })

  it('shows an error frame on the answer, keeps its text, and retry() asks for a new answer without repeating the question', async () => {
    const chatId = uid('chat')
    const { posted, stored } = serveChat(chatId)
    const { chat } = await mountChat(chatId)
    await chat.send('Explain monads')
    const es = lastEventSource()
    es.frame({ type: 'delta', text: 'A monad is' }, 10)
    es.frame({ type: 'error', code: 'upstream_unavailable', message: 'The model server did not answer.' }, 10)
    expect(chat.messages.value[1]!.status).toBe('error')
    expect(chat.messages.value[1]!.error?.message).toBe('The model server did not answer.')
    expect(chat.messages.value[1]!.content).toBe('A monad is')

    Object.assign(stored[1]!, {
      status: 'error',
      content: 'A monad is',
      error: { code: 'upstream_unavailable', message: 'The model server did not answer.' },
    })
    es.frame('[DONE]', 10)
    expect(es.closed).toBe(true)
    await vi.waitFor(() => expect(chat.status.value).toBe('error'))

    const failedId = chat.messages.value[1]!.id
    const retried = serveRetry(chatId, stored, failedId)
    await chat.retry()
    expect(retried).toEqual([failedId])
    expect(posted).toEqual(['Explain monads'])
    expect(chat.messages.value.map(m => m.role)).toEqual(['user', 'assistant'])
    expect(chat.messages.value[1]!.id).not.toBe(failedId)
    expect(chat.status.value).toBe('streaming')
    expect(FakeEventSource.instances).toHaveLength(2)
    expect(lastEventSource().url).toContain(chat.messages.value[1]!.id)
  })

  it('retry() after a failed send sends the question again with its files', async () => {
    const chatId = uid('chat')
    serveChat(chatId)
    const bodies: unknown[] = []
    registerEndpoint(`/api/chats/${chatId}/messages`, {
      method: 'POST',
      handler: async (event) => {
        const body = await readBody<{ content: string }>(event)
        bodies.push(body)
        if (bodies.length === 1) return errorReply(event, 503, 'upstream_unavailable', 'Try again.')
        return {
          userMessage: message(chatId, { role: 'user', content: body.content }),
          assistantMessage: message(chatId, { role: 'assistant', status: 'pending' }),
          streamUrl: `/api/chats/${chatId}/messages/x/stream`,
        }
      },
    })
    const { chat } = await mountChat(chatId)
    const file = { id: 'att-1', name: 'notes.txt', mediaType: 'text/plain', kind: 'text' as const, size: 5, url: '/api/attachments/att-1' }

    expect(await chat.send('Read this', [file])).toBe(false)
    expect(chat.error.value?.code).toBe('upstream_unavailable')
    expect(await chat.retry()).toBe(true)
    expect(bodies).toEqual([
      { content: 'Read this', attachments: ['att-1'] },
      { content: 'Read this', attachments: ['att-1'] },
    ])
  })

  it('gives up with an error when the browser stops reconnecting, and retry() follows the stream again', async () => {
    const chatId = uid('chat')
    const { posted } = serveChat(chatId)
    const { chat } = await mountChat(chatId)
    await chat.send('Hello')
    const es = lastEventSource()
    es.frame({ type: 'delta', text: 'Hi' }, 2)
    es.fail(FakeEventSource.CLOSED)
    await vi.waitFor(() => expect(chat.messages.value[1]!.status).toBe('error'))
    expect(chat.messages.value[1]!.content).toBe('Hi')
    expect(chat.messages.value[1]!.error?.message).toMatch(/connection/i)

    await chat.retry()
    expect(posted).toEqual(['Hello'])
    expect(lastEventSource().url).toBe(`/api/chats/${chatId}/messages/${chat.messages.value[1]!.id}/stream?offset=2`)
    expect(chat.status.value).toBe('streaming')
  })

  it('regenerate() replaces a done last answer by a new streaming one, and does nothing otherwise', async () => {
    const chatId = uid('chat')
    const stored = [
      message(chatId, { role: 'user', content: 'Name a river' }),
      message(chatId, { role: 'assistant', content: 'The Nile.', status: 'done' }),
    ]
    const { posted } = serveChat(chatId, stored)
    const { chat } = await mountChat(chatId)
    await chat.load()
    const doneId = stored[1]!.id
    const retried = serveRetry(chatId, stored, doneId)

    expect(await chat.regenerate()).toBe(true)
    expect(retried).toEqual([doneId])
    expect(posted).toEqual([])
    expect(chat.messages.value.map(m => m.role)).toEqual(['user', 'assistant'])
    const fresh = chat.messages.value[1]!
    expect(fresh.id).not.toBe(doneId)
    expect(chat.status.value).toBe('streaming')
    expect(lastEventSource().url).toBe(`/api/chats/${chatId}/messages/${fresh.id}/stream`)

    // While it runs there is nothing to regenerate.
    expect(await chat.regenerate()).toBe(false)
    expect(retried).toEqual([doneId])
  })

  it('refreshes the chat list once an answer has finished', async () => {
    const chatId = uid('chat')
    const { stored } = serveChat(chatId)
    let listed = 0
    registerEndpoint('/api/chats', {
      method: 'GET',
      handler: () => {
        listed += 1
        return []
      },
    })
    let chat!: ReturnType<typeof useChat>
    const Harness = defineComponent({
      setup() {
        chat = useChat(chatId)
        useChats()
        return () => h('div')
      },
    })
    await mountSuspended(Harness)
    await vi.waitFor(() => expect(listed).toBeGreaterThan(0))
    await chat.send('Hi')
    const before = listed
    Object.assign(stored[1]!, { status: 'done', content: 'Hello' })
    lastEventSource().frame({ type: 'delta', text: 'Hello' }, 5)
    lastEventSource().frame('[DONE]', 5)
    await vi.waitFor(() => expect(listed).toBe(before + 1))
  })

  it('closes its streams and pending frames when the component goes away', async () => {
    const chatId = uid('chat')
    serveChat(chatId)
    const { chat, wrapper } = await mountChat(chatId)
    await chat.send('Hello')
    const es = lastEventSource()
    es.frame({ type: 'delta', text: 'Hi' }, 2)
    expect(frames.pending).toBe(1)
    wrapper.unmount()
    expect(es.closed).toBe(true)
    expect(frames.pending).toBe(0)
  })

  it('keeps the text when sending fails and reports why', async () => {
    const chatId = uid('chat')
    registerEndpoint(`/api/chats/${chatId}/messages`, {
      method: 'POST',
      handler: (event) => {
        return errorReply(event, 413, 'too_large', 'That message is too long.')
      },
    })
    const { chat } = await mountChat(chatId)
    expect(await chat.send('x'.repeat(10))).toBe(false)
    expect(chat.error.value).toEqual({ code: 'too_large', message: 'That message is too long.' })
    expect(chat.status.value).toBe('error')
    expect(FakeEventSource.instances).toHaveLength(0)
  })
})
