import { afterEach, describe, expect, it } from 'vitest'
import { enableAutoUnmount } from '@vue/test-utils'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import { nextTick } from 'vue'
import type { Message } from '#shared/schemas'
import ChatThread from '~/components/ChatThread.vue'
import { message, uid } from './helpers/data'

enableAutoUnmount(afterEach)

async function mountThread(messages: Message[]) {
  const wrapper = await mountSuspended(ChatThread, { props: { messages }, attachTo: document.body })
  const region = () => wrapper.get('[aria-live="polite"]')
  const said = async () => {
    await nextTick()
    await nextTick()
    return region().text()
  }
  return { wrapper, region, said }
}

describe('ChatThread live announcements', () => {
  it('says when an answer starts and finishes, not each token', async () => {
    const chatId = uid('chat')
    const question = message(chatId, { role: 'user', content: 'Hi' })
    const { wrapper, region, said } = await mountThread([question])
    expect(region().attributes('role')).toBe('status')
    expect(await said()).toBe('')

    const answer = message(chatId, { role: 'assistant', status: 'pending' })
    await wrapper.setProps({ messages: [question, answer] })
    expect(await said()).toBe('Answer started')

    // Tokens arrive: the region keeps its words (nothing new is announced).
    for (const [i, word] of ['Hello', ' there', ' friend'].entries()) {
      const grown = { ...answer, status: 'streaming' as const, content: ['Hello', ' there', ' friend'].slice(0, i + 1).join('') }
      await wrapper.setProps({ messages: [question, grown] })
      expect(await said(), `after ${word}`).toBe('Answer started')
    }

    await wrapper.setProps({ messages: [question, { ...answer, status: 'done', content: 'Hello there friend' }] })
    expect(await said()).toBe('Answer finished')
  })

  it('says a failure once (the alert under the answer), and when an answer is stopped', async () => {
    const chatId = uid('chat')
    const question = message(chatId, { role: 'user', content: 'Hi' })
    const answer = message(chatId, { role: 'assistant', status: 'streaming', content: 'Par' })
    const { wrapper, said } = await mountThread([question, answer])
    expect(await said()).toBe('Answer started')

    await wrapper.setProps({ messages: [question, { ...answer, status: 'error', error: { code: 'upstream_error', message: 'The model is unavailable.' } }] })
    // Said once, assertively, by the alert under the answer; not a second time by the live region.
    expect(wrapper.get('[role="alert"]').text()).toContain('The model is unavailable.')
    expect(await said()).toBe('Answer started')

    const again = message(chatId, { role: 'assistant', status: 'pending' })
    await wrapper.setProps({ messages: [question, again] })
    expect(await said()).toBe('Answer started')
    await wrapper.setProps({ messages: [question, { ...again, status: 'stopped', content: 'Pa' }] })
    expect(await said()).toBe('Answer stopped')
    // Continue: the same answer goes on.
    await wrapper.setProps({ messages: [question, { ...again, status: 'pending', content: 'Pa' }] })
    expect(await said()).toBe('Answer started')
  })

  it('says nothing about answers that were already over when the chat opened', async () => {
    const chatId = uid('chat')
    const { said } = await mountThread([
      message(chatId, { role: 'user', content: 'Hi' }),
      message(chatId, { role: 'assistant', content: 'Hello' }),
    ])
    expect(await said()).toBe('')
  })
})
