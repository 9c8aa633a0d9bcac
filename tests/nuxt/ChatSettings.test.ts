import { describe, expect, it, vi } from 'vitest'
import { mountSuspended, registerEndpoint } from '@nuxt/test-utils/runtime'
import { readBody } from 'h3'
import type { Chat } from '#shared/schemas'
import ChatSettings from '~/components/ChatSettings.vue'
import { errorReply, uid } from './helpers/data'

function chatWith(fields: Partial<Chat> = {}): Chat {
  const now = new Date().toISOString()
  return { id: uid('chat'), title: 'A chat', createdAt: now, updatedAt: now, ...fields }
}

/** PATCH /api/chats/:id as the server answers it (null forgets a setting), recording the bodies. */
function servePatch(chat: Chat, status = 200) {
  const patches: Record<string, unknown>[] = []
  registerEndpoint(`/api/chats/${chat.id}`, {
    method: 'PATCH',
    handler: async (event) => {
      const body = await readBody<{ systemPrompt: string | null, temperature: number | null }>(event)
      patches.push(body)
      if (status !== 200) return errorReply(event, status, 'invalid_body', 'The temperature is out of range.')
      const { systemPrompt: _p, temperature: _t, ...rest } = chat
      return { ...rest, ...(body.systemPrompt ? { systemPrompt: body.systemPrompt } : {}), ...(body.temperature === null ? {} : { temperature: body.temperature }) }
    },
  })
  return patches
}

async function openSettings(chat: Chat) {
  const wrapper = await mountSuspended(ChatSettings, { props: { chat }, attachTo: document.body })
  const toggle = wrapper.get('button[aria-expanded]')
  await toggle.trigger('click')
  return wrapper
}

describe('ChatSettings', () => {
  it('opens on the chat\'s current settings with the system prompt focused', async () => {
    const chat = chatWith({ systemPrompt: 'Be brief.', temperature: 0.4 })
    const wrapper = await openSettings(chat)
    expect(wrapper.get('button[aria-expanded]').attributes('aria-expanded')).toBe('true')
    expect(wrapper.get('button[aria-expanded]').text()).toContain('system prompt, temperature 0.4')
    const prompt = wrapper.get('textarea')
    expect((prompt.element as HTMLTextAreaElement).value).toBe('Be brief.')
    expect(document.activeElement).toBe(prompt.element)
    expect(wrapper.get(`label[for="${prompt.attributes('id')}"]`).text()).toBe('System prompt')
    expect((wrapper.get('input[type="checkbox"]').element as HTMLInputElement).checked).toBe(false)
    expect((wrapper.get('input[type="range"]').element as HTMLInputElement).value).toBe('0.4')
    wrapper.unmount()
  })

  it('saves a system prompt and a temperature, and reports the saved chat', async () => {
    const chat = chatWith()
    const patches = servePatch(chat)
    const wrapper = await openSettings(chat)
    expect((wrapper.get('input[type="range"]').element as HTMLInputElement).disabled).toBe(true)
    await wrapper.get('textarea').setValue('Answer in French.')
    await wrapper.get('input[type="checkbox"]').setValue(false)
    await wrapper.get('input[type="range"]').setValue('0.2')
    await wrapper.get('form').trigger('submit')
    await vi.waitFor(() => expect(wrapper.emitted('saved')).toHaveLength(1))
    expect(patches).toEqual([{ systemPrompt: 'Answer in French.', temperature: 0.2 }])
    expect(wrapper.emitted('saved')![0]![0]).toMatchObject({ systemPrompt: 'Answer in French.', temperature: 0.2 })
    expect(wrapper.find('form').exists()).toBe(false)
    wrapper.unmount()
  })

  it('an empty prompt and "Model default" forget both settings', async () => {
    const chat = chatWith({ systemPrompt: 'Old', temperature: 1.5 })
    const patches = servePatch(chat)
    const wrapper = await openSettings(chat)
    await wrapper.get('textarea').setValue('  ')
    await wrapper.get('input[type="checkbox"]').setValue(true)
    await wrapper.get('form').trigger('submit')
    await vi.waitFor(() => expect(wrapper.emitted('saved')).toHaveLength(1))
    expect(patches).toEqual([{ systemPrompt: null, temperature: null }])
    wrapper.unmount()
  })

  it('shows the server\'s message when saving fails and keeps the form open with the edits', async () => {
    const chat = chatWith()
    servePatch(chat, 400)
    const wrapper = await openSettings(chat)
    await wrapper.get('textarea').setValue('Mine')
    await wrapper.get('form').trigger('submit')
    await vi.waitFor(() => expect(wrapper.find('[role="alert"]').exists()).toBe(true))
    expect(wrapper.get('[role="alert"]').text()).toBe('The temperature is out of range.')
    expect((wrapper.get('textarea').element as HTMLTextAreaElement).value).toBe('Mine')
    expect(wrapper.emitted('saved')).toBeUndefined()
    wrapper.unmount()
  })

  it('Escape closes without saving and gives focus back to the toggle', async () => {
    const chat = chatWith()
    const patches = servePatch(chat)
    const wrapper = await openSettings(chat)
    await wrapper.get('textarea').setValue('Unsaved')
    await wrapper.get('form').trigger('keydown', { key: 'Escape' })
    expect(wrapper.find('form').exists()).toBe(false)
    expect(document.activeElement).toBe(wrapper.get('button[aria-expanded]').element)
    expect(patches).toEqual([])
    await wrapper.get('button[aria-expanded]').trigger('click')
    expect((wrapper.get('textarea').element as HTMLTextAreaElement).value).toBe('')
    wrapper.unmount()
  })
})
