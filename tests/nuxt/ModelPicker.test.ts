import { describe, expect, it, vi } from 'vitest'
import { mountSuspended, registerEndpoint } from '@nuxt/test-utils/runtime'
import { readBody } from 'h3'
import ModelPicker from '~/components/ModelPicker.vue'
import { errorReply, uid } from './helpers/data'

registerEndpoint('/api/models', {
  method: 'GET',
  handler: () => ({ models: [{ id: 'alpha' }, { id: 'beta' }, { id: 'gamma' }], default: 'beta' }),
})

/** PATCH /api/chats/:id as the server answers it, recording the bodies. */
function servePatch(chatId: string, status = 200) {
  const patches: unknown[] = []
  registerEndpoint(`/api/chats/${chatId}`, {
    method: 'PATCH',
    handler: async (event) => {
      const body = await readBody<{ model: string }>(event)
      patches.push(body)
      if (status !== 200) return errorReply(event, status, 'unknown_model', 'No.')
      const now = new Date().toISOString()
      return { id: chatId, title: 'A chat', model: body.model, createdAt: now, updatedAt: now }
    },
  })
  return patches
}

/** The list loads lazily (the chat page does not wait for it): mount, then wait for it. */
async function mountLoaded(options: { props: { chatId: string, modelValue?: string } }) {
  const wrapper = await mountSuspended(ModelPicker, options)
  await vi.waitFor(() => expect(wrapper.findAll('option').length).toBeGreaterThan(1))
  return wrapper
}

describe('ModelPicker', () => {
  it('lists the server\'s models under a Model label, showing the default when the chat has none', async () => {
    const chatId = uid('chat')
    const wrapper = await mountLoaded({ props: { chatId } })
    const select = wrapper.get('select')
    expect(wrapper.get(`label[for="${select.attributes('id')}"]`).text()).toBe('Model')
    expect(select.findAll('option').map(o => o.text())).toEqual(['alpha', 'beta', 'gamma'])
    expect((select.element as HTMLSelectElement).value).toBe('beta')
  })

  it('shows the chat\'s model, and saves a new pick on the chat', async () => {
    const chatId = uid('chat')
    const patches = servePatch(chatId)
    const wrapper = await mountLoaded({ props: { chatId, modelValue: 'alpha' } })
    const select = wrapper.get('select')
    expect((select.element as HTMLSelectElement).value).toBe('alpha')
    await select.setValue('gamma')
    await vi.waitFor(() => expect(patches).toEqual([{ model: 'gamma' }]))
    await vi.waitFor(() => expect(wrapper.emitted('update:modelValue')).toEqual([['gamma']]))
  })

  it('keeps the previous model and says so when the server refuses the pick', async () => {
    const chatId = uid('chat')
    servePatch(chatId, 400)
    const wrapper = await mountLoaded({ props: { chatId, modelValue: 'alpha' } })
    const select = wrapper.get('select')
    await select.setValue('gamma')
    await vi.waitFor(() => expect(wrapper.find('[role="alert"]').exists()).toBe(true))
    expect((select.element as HTMLSelectElement).value).toBe('alpha')
    expect(wrapper.emitted('update:modelValue')).toBeUndefined()
  })
})
