import { describe, expect, it, vi } from 'vitest'
import { TEXT_COMMIT_INTERVAL } from '~/utils/text-batcher'
import { FakeEventSource, lastEventSource, manualClock, useFakeStreams } from './helpers/fake-stream'
import { message, serveChat, uid } from './helpers/data'
import { mountChat } from './helpers/use-chat'

const frames = useFakeStreams()

describe('useChat: reasoning (docs/reasoning.md)', () => {
  it('adds reasoning frames to the answer\'s reasoning in batches, apart from its text; the first one starts the answer', async () => {
    const chatId = uid('chat')
    const { stored } = serveChat(chatId)
    const { chat } = await mountChat(chatId)
    await chat.send('Think about it')
    const clock = manualClock()
    const es = lastEventSource()
    const answer = () => chat.messages.value[1]!

    es.frame({ type: 'reasoning', text: 'The person' }, '0,10')
    es.frame({ type: 'reasoning', text: ' asks' }, '0,15')
    expect(answer().reasoning).toBeUndefined()
    expect(answer().status).toBe('pending')
    frames.run()
    expect(answer()).toMatchObject({ reasoning: 'The person asks', content: '', status: 'streaming' })

    // Both texts wait for the same batch: one update for the two.
    es.frame({ type: 'reasoning', text: '.' }, '0,16')
    es.frame({ type: 'delta', text: 'Yes' }, '3,16')
    frames.run()
    expect(answer()).toMatchObject({ reasoning: 'The person asks', content: '' })
    clock.advance(TEXT_COMMIT_INTERVAL)
    expect(frames.pending).toBe(1)
    frames.run()
    expect(answer()).toMatchObject({ reasoning: 'The person asks.', content: 'Yes' })

    // A non-text frame first shows what came before it, of both texts.
    es.frame({ type: 'reasoning', text: ' Then more.' }, '3,27')
    es.frame({ type: 'delta', text: '!' }, '4,27')
    es.frame({ type: 'usage', promptTokens: 5, completionTokens: 9, reasoningTokens: 6 }, '4,27')
    expect(answer()).toMatchObject({ reasoning: 'The person asks. Then more.', content: 'Yes!' })
    expect(answer().usage).toEqual({ promptTokens: 5, completionTokens: 9, reasoningTokens: 6 })

    Object.assign(stored[1]!, { status: 'done', content: 'Yes!', reasoning: 'The person asks. Then more.', reasoningMs: 1200 })
    es.frame('[DONE]', '4,27')
    vi.useRealTimers()
    await vi.waitFor(() => expect(answer().status).toBe('done'))
    expect(answer()).toMatchObject({ reasoning: 'The person asks. Then more.', reasoningMs: 1200, content: 'Yes!' })
  })

  it('after a reload, follows a streaming answer from both its text and its reasoning', async () => {
    const chatId = uid('chat')
    const question = message(chatId, { role: 'user', content: 'Reason it out' })
    const answer = message(chatId, { role: 'assistant', status: 'streaming', content: 'So', reasoning: 'First, the facts' })
    serveChat(chatId, [question, answer])
    const { chat } = await mountChat(chatId)
    await chat.load()

    const es = lastEventSource()
    expect(es.url).toBe(`/api/chats/${chatId}/messages/${answer.id}/stream?offset=2,16`)
    es.frame({ type: 'reasoning', text: ' and more' }, '2,25')
    es.frame({ type: 'delta', text: ' there' }, '8,25')
    frames.run()
    expect(chat.messages.value[1]).toMatchObject({ reasoning: 'First, the facts and more', content: 'So there' })
  })

  it('a reload mid-thinking asks for the rest of the reasoning only', async () => {
    const chatId = uid('chat')
    const answer = message(chatId, { role: 'assistant', status: 'streaming', content: '', reasoning: 'Hmm' })
    serveChat(chatId, [message(chatId, { role: 'user', content: 'Think' }), answer])
    const { chat } = await mountChat(chatId)
    await chat.load()
    expect(lastEventSource().url).toBe(`/api/chats/${chatId}/messages/${answer.id}/stream?offset=0,3`)
  })

  it('follows a lost stream again from both offsets, text still waiting for its batch included', async () => {
    const chatId = uid('chat')
    serveChat(chatId)
    const { chat } = await mountChat(chatId)
    await chat.send('Step by step, please')
    const es = lastEventSource()
    es.frame({ type: 'reasoning', text: 'Step one' }, '0,8')
    frames.run()
    es.frame({ type: 'reasoning', text: ', two' }, '0,13')
    es.frame({ type: 'delta', text: 'Done' }, '4,13')
    es.fail(FakeEventSource.CLOSED)
    await vi.waitFor(() => expect(chat.messages.value[1]!.status).toBe('error'))
    expect(chat.messages.value[1]).toMatchObject({ reasoning: 'Step one, two', content: 'Done' })

    await chat.retry()
    expect(lastEventSource().url).toBe(`/api/chats/${chatId}/messages/${chat.messages.value[1]!.id}/stream?offset=4,13`)
  })
})
