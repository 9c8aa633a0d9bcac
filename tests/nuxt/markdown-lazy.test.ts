import { describe, expect, it, vi } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import { flushPromises } from '@vue/test-utils'
import MarkdownContent from '~/components/MarkdownContent.vue'

// Records when the shiki side of highlighting is loaded (it is only ever imported dynamically).
const loads = vi.hoisted(() => ({ count: 0 }))
vi.mock('~/utils/highlight-shiki', async (importOriginal) => {
  loads.count++
  return await importOriginal()
})

describe('loading the highlighter', () => {
  it('does not load it for answers without code, even inline code or a ``` in a sentence', async () => {
    const source = 'A paragraph with `inline code`.\n\n- a list\n- with ``` `text` ```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n    indented code\n'
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: '' } })
    for (let i = 1; i <= source.length; i += 5) await wrapper.setProps({ source: source.slice(0, i) })
    await wrapper.setProps({ source, complete: true })
    await flushPromises()
    expect(wrapper.find('table').exists()).toBe(true)
    expect(loads.count).toBe(0)
  })

  it('loads it once a fenced code block appears', async () => {
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: 'Some text.\n\n' } })
    await flushPromises()
    expect(loads.count).toBe(0)
    await wrapper.setProps({ source: 'Some text.\n\n```ts\nconst a = 1\n```\n' })
    await vi.waitFor(() => expect(wrapper.find('pre.shiki').exists()).toBe(true))
    expect(loads.count).toBe(1)
  })
})
