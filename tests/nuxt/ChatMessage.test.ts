import { describe, expect, it, vi } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import type { Message } from '#shared/schemas'
import ChatMessage from '~/components/ChatMessage.vue'
import ChatThread from '~/components/ChatThread.vue'
import { message, uid } from './helpers/data'

const chatId = uid('chat')

async function mountMessage(fields: Partial<Message> & Pick<Message, 'role'>, props: { canRetry?: boolean } = {}) {
  return await mountSuspended(ChatMessage, { props: { message: message(chatId, fields), ...props } })
}

function buttonNamed(wrapper: Awaited<ReturnType<typeof mountMessage>>, name: string) {
  return wrapper.findAll('button').find(b => b.text() === name || b.attributes('aria-label') === name)
}

describe('ChatMessage', () => {
  it('shows the token usage of a finished answer discreetly, and none while it streams', async () => {
    const usage = { promptTokens: 12, completionTokens: 30 }
    const done = await mountMessage({ role: 'assistant', content: 'Hi', usage })
    expect(done.find('.message-usage').text()).toBe('12 → 30 tokens')
    const streaming = await mountMessage({ role: 'assistant', content: 'Hi', status: 'streaming', usage })
    expect(streaming.find('.message-usage').exists()).toBe(false)
    const without = await mountMessage({ role: 'assistant', content: 'Hi' })
    expect(without.text()).not.toContain('tokens')
  })

  it('copies the answer as markdown', async () => {
    const writeText = vi.fn(async () => {})
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true })
    const source = 'Use **this**:\n\n```js\nlet x = 1\n```'
    const wrapper = await mountMessage({ role: 'assistant', content: source })
    const copy = buttonNamed(wrapper, 'Copy answer')
    expect(copy).toBeDefined()
    await copy!.trigger('click')
    await vi.waitFor(() => expect(writeText).toHaveBeenCalledWith(source))
    await vi.waitFor(() => expect(copy!.text()).toBe('Copied'))
  })

  it('offers no copy on the person\'s messages nor on an answer still being written', async () => {
    expect(buttonNamed(await mountMessage({ role: 'user', content: 'Hello' }), 'Copy answer')).toBeUndefined()
    expect(buttonNamed(await mountMessage({ role: 'assistant', content: 'Hal', status: 'streaming' }), 'Copy answer')).toBeUndefined()
  })

  it('offers Regenerate only on the last finished answer, and it emits retry', async () => {
    const messages = [
      message(chatId, { role: 'user', content: 'One' }),
      message(chatId, { role: 'assistant', content: 'First' }),
      message(chatId, { role: 'user', content: 'Two' }),
      message(chatId, { role: 'assistant', content: 'Second' }),
    ]
    const thread = await mountSuspended(ChatThread, { props: { messages, canRetry: true } })
    const regenerate = thread.findAll('article').map(a => a.findAll('button').some(b => b.text() === 'Regenerate'))
    expect(regenerate).toEqual([false, false, false, true])
    await thread.findAll('button').find(b => b.text() === 'Regenerate')!.trigger('click')
    expect(thread.emitted('retry')).toHaveLength(1)

    // Not while another request is starting, nor on an answer that is still running or failed.
    expect(buttonNamed(await mountMessage({ role: 'assistant', content: 'x' }, { canRetry: false }), 'Regenerate')).toBeUndefined()
    expect(buttonNamed(await mountMessage({ role: 'assistant', content: 'x', status: 'streaming' }, { canRetry: true }), 'Regenerate')).toBeUndefined()
    expect(buttonNamed(await mountMessage({ role: 'assistant', content: 'x', status: 'error' }, { canRetry: true }), 'Regenerate')).toBeUndefined()
  })
})
