import { describe, expect, it } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import type { Message } from '#shared/schemas'
import MessageContent from '~/components/message/MessageContent.vue'
import { message, uid } from './helpers/data'

const chatId = uid('chat')

async function mountContent(fields: Partial<Message> & Pick<Message, 'role'>, reconnecting = false) {
  return await mountSuspended(MessageContent, { props: { message: message(chatId, fields), reconnecting } })
}

describe('MessageContent', () => {
  it('shows the person\'s words as they typed them, never as markdown', async () => {
    const wrapper = await mountContent({ role: 'user', content: 'Is **this** bold?' })
    expect(wrapper.get('.message-user-text').text()).toBe('Is **this** bold?')
    expect(wrapper.find('strong').exists()).toBe(false)
  })

  it('shows an answer as markdown', async () => {
    const wrapper = await mountContent({ role: 'assistant', content: 'It is **bold**.' })
    expect(wrapper.get('strong').text()).toBe('bold')
  })

  it('says the model is thinking until the first words come, then shows them', async () => {
    const waiting = await mountContent({ role: 'assistant', content: '', status: 'pending' })
    expect(waiting.get('[role="status"]').text()).toBe('Thinking…')
    const writing = await mountContent({ role: 'assistant', content: 'Hel', status: 'streaming' })
    expect(writing.find('[role="status"]').exists()).toBe(false)
    expect(writing.text()).toContain('Hel')
  })

  it('says it is reconnecting only while the answer is still being written', async () => {
    const live = await mountContent({ role: 'assistant', content: 'Hel', status: 'streaming' }, true)
    expect(live.get('[role="status"]').text()).toBe('Reconnecting…')
    const ended = await mountContent({ role: 'assistant', content: 'Hello', status: 'done' }, true)
    expect(ended.find('[role="status"]').exists()).toBe(false)
  })
})
