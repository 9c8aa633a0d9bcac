import { afterEach, describe, expect, it } from 'vitest'
import { enableAutoUnmount } from '@vue/test-utils'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import ChatComposer from '~/components/ChatComposer.vue'

enableAutoUnmount(afterEach)

async function mountComposer(props: { modelValue?: string, submitting?: boolean, streaming?: boolean } = {}) {
  const wrapper = await mountSuspended(ChatComposer, {
    attachTo: document.body,
    props: { 'modelValue': '', 'onUpdate:modelValue': (v: string) => wrapper.setProps({ modelValue: v }), ...props },
  })
  return {
    wrapper,
    textarea: () => wrapper.get('textarea[aria-label="Message"]'),
    button: (name: string) => wrapper.findAll('button').find(b => b.text() === name),
  }
}

describe('ChatComposer', () => {
  it('sends with Enter', async () => {
    const { wrapper, textarea } = await mountComposer()
    await textarea().setValue('Hello')
    await textarea().trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('send')).toEqual([['Hello']])
  })

  it('does not send with Shift+Enter, nor while an IME composition is being confirmed', async () => {
    const { wrapper, textarea } = await mountComposer()
    await textarea().setValue('Hello')
    const shift = new KeyboardEvent('keydown', { key: 'Enter', shiftKey: true, cancelable: true })
    textarea().element.dispatchEvent(shift)
    const composing = new KeyboardEvent('keydown', { key: 'Enter', isComposing: true, cancelable: true })
    textarea().element.dispatchEvent(composing)
    expect(wrapper.emitted('send')).toBeUndefined()
    // The newline is left to the browser.
    expect(shift.defaultPrevented).toBe(false)
  })

  it('sends with the Send button, which is disabled while there is nothing to send', async () => {
    const { wrapper, textarea, button } = await mountComposer()
    expect(button('Send')!.attributes('disabled')).toBeDefined()
    await textarea().setValue('   \n  ')
    expect(button('Send')!.attributes('disabled')).toBeDefined()
    await textarea().trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('send')).toBeUndefined()
    await textarea().setValue('Hi')
    expect(button('Send')!.attributes('disabled')).toBeUndefined()
    await button('Send')!.trigger('click')
    expect(wrapper.emitted('send')).toEqual([['Hi']])
  })

  it('cannot send twice while a message is being submitted', async () => {
    const { wrapper, textarea, button } = await mountComposer({ modelValue: 'Hi', submitting: true })
    expect(button('Send')!.attributes('disabled')).toBeDefined()
    await textarea().trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('send')).toBeUndefined()
  })

  it('keeps a message typed while an answer streams until that answer ends', async () => {
    const { wrapper, textarea, button } = await mountComposer({ streaming: true })
    await textarea().setValue('Next question')
    expect(button('Send')!.attributes('disabled')).toBeDefined()
    await textarea().trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('send')).toBeUndefined()
    await wrapper.setProps({ streaming: false })
    await textarea().trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('send')).toEqual([['Next question']])
  })

  it('refuses a message over 100,000 characters with a visible reason, keeping all of the text', async () => {
    const { wrapper, textarea, button } = await mountComposer()
    const long = 'x'.repeat(100_001)
    await textarea().setValue(long)
    expect((textarea().element as HTMLTextAreaElement).value).toHaveLength(100_001)
    expect(button('Send')!.attributes('disabled')).toBeDefined()
    expect(wrapper.text()).toContain('100,001 / 100,000 characters')
    await textarea().trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('send')).toBeUndefined()
    await textarea().setValue(long.slice(1))
    expect(button('Send')!.attributes('disabled')).toBeUndefined()
  })

  it('shows Stop only while an answer streams', async () => {
    const { wrapper, button } = await mountComposer()
    expect(button('Stop')).toBeUndefined()
    await wrapper.setProps({ streaming: true })
    await button('Stop')!.trigger('click')
    expect(wrapper.emitted('stop')).toHaveLength(1)
  })

  it('stops a streaming answer with Escape, and only while one streams', async () => {
    const { wrapper, textarea } = await mountComposer()
    await textarea().trigger('keydown', { key: 'Escape' })
    expect(wrapper.emitted('stop')).toBeUndefined()
    await wrapper.setProps({ streaming: true })
    await textarea().trigger('keydown', { key: 'Escape' })
    expect(wrapper.emitted('stop')).toHaveLength(1)
    // From elsewhere on the page too (the focus on the Stop button or in the thread)...
    document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))
    expect(wrapper.emitted('stop')).toHaveLength(2)
    // ...but not when something else already used that Escape (the drawer closing).
    const used = new KeyboardEvent('keydown', { key: 'Escape', bubbles: true, cancelable: true })
    used.preventDefault()
    document.body.dispatchEvent(used)
    expect(wrapper.emitted('stop')).toHaveLength(2)
  })

  it('puts the focus back in the composer after Send and after Stop', async () => {
    const { wrapper, textarea, button } = await mountComposer({ modelValue: 'Hi' })
    const send = button('Send')!.element as HTMLButtonElement
    send.focus()
    await button('Send')!.trigger('click')
    expect(wrapper.emitted('send')).toEqual([['Hi']])
    expect(document.activeElement).toBe(textarea().element)
    await wrapper.setProps({ streaming: true })
    ;(button('Stop')!.element as HTMLButtonElement).focus()
    await button('Stop')!.trigger('click')
    expect(wrapper.emitted('stop')).toHaveLength(1)
    expect(document.activeElement).toBe(textarea().element)
  })
})
