import { describe, expect, it } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import type { Message } from '#shared/schemas'
import ChatMessage from '~/components/ChatMessage.vue'
import ChatThread from '~/components/ChatThread.vue'
import { message, uid } from './helpers/data'

const chatId = uid('chat')

async function mountMessage(fields: Partial<Message> & Pick<Message, 'role'>, props: { canRetry?: boolean, canEdit?: boolean } = {}) {
  return await mountSuspended(ChatMessage, { props: { message: message(chatId, fields), ...props }, attachTo: document.body })
}

const names = (wrapper: { findAll: (s: string) => { text: () => string }[] }) => wrapper.findAll('button').map(b => b.text())

describe('ChatMessage: edit and resend', () => {
  it('edits a question in place: Enter sends the new words, Shift+Enter is a new line', async () => {
    const wrapper = await mountMessage({ role: 'user', content: 'What is a fjord?' }, { canEdit: true })
    await wrapper.get('button[aria-label="Edit message"]').trigger('click')
    const field = wrapper.get('textarea[aria-label="Edit message"]')
    expect((field.element as HTMLTextAreaElement).value).toBe('What is a fjord?')
    expect(document.activeElement).toBe(field.element)
    await field.setValue('What is a fjord, exactly?')
    await field.trigger('keydown', { key: 'Enter', shiftKey: true })
    expect(wrapper.emitted('edit')).toBeUndefined()
    await field.trigger('keydown', { key: 'Enter' })
    // No files changed: none are sent, and the question keeps its own.
    expect(wrapper.emitted('edit')).toEqual([['What is a fjord, exactly?', undefined]])
    // The editor keeps the words until the question is replaced: if sending fails, they are still here.
    await wrapper.setProps({ canEdit: false })
    expect((wrapper.get('textarea').element as HTMLTextAreaElement).value).toBe('What is a fjord, exactly?')
    expect(wrapper.findAll('button').find(b => b.text() === 'Send edited')!.attributes('disabled')).toBeDefined()
    await wrapper.get('form').trigger('submit')
    expect(wrapper.emitted('edit')).toHaveLength(1)
    await wrapper.setProps({ canEdit: true })
    expect(wrapper.findAll('button').find(b => b.text() === 'Send edited')!.attributes('disabled')).toBeUndefined()
    wrapper.unmount()
  })

  it('Escape or Cancel leave the question as it was, and focus returns to Edit', async () => {
    const wrapper = await mountMessage({ role: 'user', content: 'Keep me' }, { canEdit: true })
    await wrapper.get('button[aria-label="Edit message"]').trigger('click')
    await wrapper.get('textarea').setValue('Changed')
    await wrapper.get('textarea').trigger('keydown', { key: 'Escape' })
    expect(wrapper.emitted('edit')).toBeUndefined()
    expect(wrapper.get('.message-user-text').text()).toBe('Keep me')
    await new Promise(resolve => setTimeout(resolve))
    expect(document.activeElement).toBe(wrapper.get('button[aria-label="Edit message"]').element)

    await wrapper.get('button[aria-label="Edit message"]').trigger('click')
    await wrapper.findAll('button').find(b => b.text() === 'Cancel')!.trigger('click')
    expect(wrapper.emitted('edit')).toBeUndefined()
    wrapper.unmount()
  })

  it('cannot send an empty edit, and sends nothing when the words did not change', async () => {
    const wrapper = await mountMessage({ role: 'user', content: 'Same' }, { canEdit: true })
    await wrapper.get('button[aria-label="Edit message"]').trigger('click')
    await wrapper.get('textarea').setValue('   ')
    const sendEdited = () => wrapper.findAll('button').find(b => b.text() === 'Send edited')!
    expect(sendEdited().attributes('disabled')).toBeDefined()
    await wrapper.get('textarea').setValue('Same')
    await wrapper.get('form').trigger('submit')
    expect(wrapper.emitted('edit')).toBeUndefined()
    wrapper.unmount()
  })

  it('offers Edit only when editing is allowed (not while an answer streams), and never on answers', async () => {
    expect((await mountMessage({ role: 'user', content: 'Q' }, { canEdit: false })).find('button[aria-label="Edit message"]').exists()).toBe(false)
    expect((await mountMessage({ role: 'assistant', content: 'A' }, { canEdit: true, canRetry: true })).find('button[aria-label="Edit message"]').exists()).toBe(false)
  })

  it('a thread reports which question was edited', async () => {
    const messages = [
      message(chatId, { role: 'user', content: 'One' }),
      message(chatId, { role: 'assistant', content: 'First' }),
      message(chatId, { role: 'user', content: 'Two' }),
      message(chatId, { role: 'assistant', content: 'Second' }),
    ]
    const thread = await mountSuspended(ChatThread, { props: { messages, canRetry: true, canEdit: true } })
    expect(thread.findAll('button[aria-label="Edit message"]')).toHaveLength(2)
    await thread.findAll('button[aria-label="Edit message"]')[0]!.trigger('click')
    await thread.get('textarea').setValue('One, again')
    await thread.get('form').trigger('submit')
    expect(thread.emitted('edit')).toEqual([[messages[0]!.id, 'One, again', undefined]])
  })
})

describe('ChatMessage: Continue', () => {
  it('offers Continue on a stopped or failed last answer that has text, and it emits continue', async () => {
    const stopped = await mountMessage({ role: 'assistant', content: 'Half of it', status: 'stopped' }, { canRetry: true })
    expect(names(stopped)).toContain('Continue')
    await stopped.findAll('button').find(b => b.text() === 'Continue')!.trigger('click')
    expect(stopped.emitted('continue')).toHaveLength(1)

    const failed = await mountMessage({ role: 'assistant', content: 'Half', status: 'error', error: { code: 'upstream_unavailable', message: 'Lost.' } }, { canRetry: true })
    expect(names(failed)).toEqual(expect.arrayContaining(['Continue', 'Retry']))
  })

  it('offers no Continue without text, on a done answer, on a lost connection, or when not the last answer', async () => {
    const cases: [Partial<Message>, boolean][] = [
      [{ content: '', status: 'error', error: { code: 'upstream_auth', message: 'Key.' } }, true],
      [{ content: 'All of it', status: 'done' }, true],
      [{ content: 'Half', status: 'error', error: { code: 'stream_lost', message: 'Lost.' } }, true],
      [{ content: 'Half', status: 'stopped' }, false],
    ]
    for (const [fields, canRetry] of cases) {
      expect(names(await mountMessage({ role: 'assistant', ...fields }, { canRetry }))).not.toContain('Continue')
    }
  })
})
