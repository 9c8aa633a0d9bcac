import { describe, expect, it, vi } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import type { DOMWrapper } from '@vue/test-utils'
import MarkdownContent from '~/components/MarkdownContent.vue'
import { loadHighlighting } from '~/utils/highlight'
import { IncrementalMarkdown, renderListItem, renderMarkdown } from '~/utils/markdown'
import { loadMath, MATH } from '~/utils/math'

/** Feeds `text` `step` characters at a time; checks the HTML against a whole render every `check` updates. */
function feed(text: string, step: number, check = Infinity) {
  const render = vi.fn(renderMarkdown)
  const renderItem = vi.fn(renderListItem)
  const markdown = new IncrementalMarkdown(render, renderItem)
  let blocks = markdown.update('')
  let updates = 0
  for (let i = step; i < text.length + step; i += step) {
    const part = text.slice(0, i)
    blocks = markdown.update(part)
    if (++updates % check === 0) expect(blocks.map(b => b.html).join(''), part).toBe(renderMarkdown(part))
  }
  return { render, renderItem, blocks }
}

const item = (i: number) => `- Item ${i}: some words about *item* \`${i}\`${i % 5 === 4 ? `\n  - nested ${i}\n  - another` : ''}`

describe('a long list, item by item', () => {
  it('renders the same HTML as rendering the whole text at once, at every step', () => {
    const answers = [
      `Intro.\n\n${Array.from({ length: 12 }, (_, i) => item(i)).join('\n')}\n\nAfter.`,
      // Loose: a blank line between items makes every item's text a paragraph, earlier ones too.
      '1. one\n2. two\n\n3. three\n   more\n\n4. four\n\nEnd.',
      '3. starts at three\n4. four\n5. five\n',
      // Another bullet is another list; code and a lazy line inside items.
      '- a\n- b\n* c\n* d\n\nText.',
      '- code:\n\n  ```ts\n  const a = 1\n\n  const b = 2\n  ```\n- lazy\ncontinued\n- last',
      '- a\n- b\n# Heading\n- c\n',
    ]
    for (const answer of answers) {
      for (const step of [1, 4]) feed(answer, step, 1)
    }
  })

  it('renders a finished item once, so an update costs the same at the end of the list as at its start', () => {
    const list = Array.from({ length: 300 }, (_, i) => item(i)).join('\n')
    const { render, renderItem, blocks } = feed(`${list}\n\nThe end.`, 10)
    const rendered = [...render.mock.calls, ...renderItem.mock.calls].reduce((sum, [s]) => sum + s.length, 0)
    // Rendering the whole list on every update would be about list.length² / 20 characters.
    expect(rendered).toBeLessThan(list.length * 10)
    expect(blocks[0]!.list!.items).toHaveLength(300)
  })

  it('colours code and typesets math in finished items once their grammar and KaTeX load', async () => {
    const markdown = new IncrementalMarkdown()
    const text = '- run:\n\n  ```ts\n  const a: number = 1\n  ```\n- area $\\pi r^2$\n- last'
    let blocks = markdown.update(text)
    expect(blocks[0]!.list!.items).toHaveLength(3)
    expect(blocks[0]!.html).not.toContain('shiki')
    expect(markdown.takeWanted().sort()).toEqual([MATH, 'ts'].sort())
    expect(await loadHighlighting(['ts'])).toBe(true)
    await loadMath()
    blocks = markdown.refresh()
    const [code, math] = blocks[0]!.list!.items
    expect(code!.html).toContain('class="shiki')
    expect(math!.html).toContain('class="katex')
    expect(blocks.map(b => b.html).join('')).toBe(renderMarkdown(text))
  })
})

describe('MarkdownContent with a long list', () => {
  const numbered = (n: number, from: number) => Array.from({ length: n }, (_, i) => `${i + from}. step ${i}`).join('\n')
  /** The `<ol>`/`<ul>` parts of each list a screen reader sees (role="list"), with their start numbers. */
  const lists = (wrapper: { findAll: (selector: string) => DOMWrapper<Element>[] }) => wrapper.findAll('[role="list"]').map(list => ({
    parts: list.findAll(':scope > ol, :scope > ul').map(part => `${part.element.tagName.toLowerCase()}${part.attributes('start') ?? ''}:${part.findAll(':scope > li').length}`),
    items: list.findAll(':scope > * > li').map(li => li.text()),
  }))

  it('keeps one list whose finished items stay the same elements as it grows', async () => {
    const source = (n: number) => `Steps:\n\n${numbered(n, 2)}`
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: `${source(20)}\n3` } })
    const first = wrapper.findAll('ol > li').map(li => li.element)
    await wrapper.setProps({ source: `${source(40)}\n` })
    // One list of 40 items, numbered from 2, as a screen reader announces it; laid out in parts of 32.
    expect(lists(wrapper)).toEqual([{ parts: ['ol2:32', 'ol34:8'], items: Array.from({ length: 40 }, (_, i) => `step ${i}`) }])
    expect(wrapper.findAll('ol').every(ol => ol.attributes('role') === 'none')).toBe(true)
    expect(wrapper.findAll('ol > li').every(li => li.attributes('role') === 'listitem')).toBe(true)
    const items = wrapper.findAll('ol > li')
    expect(items.slice(0, 19).every((li, i) => li.element === first[i])).toBe(true)
  })

  it('numbers the parts of a list from 1 on, and keeps nested lists inside their item', async () => {
    const nested = (i: number) => `${' '.repeat(`${i + 1}. `.length)}- nested ${i}`
    const items = Array.from({ length: 70 }, (_, i) => (i === 31 || i === 32 ? `${i + 1}. item ${i}\n${nested(i)}` : `${i + 1}. item ${i}`))
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: `${items.join('\n')}\n\nAfter.`, complete: true } })
    expect(lists(wrapper).map(l => l.parts)).toEqual([['ol:32', 'ol33:32', 'ol65:6']])
    // The last item of a part and the first of the next each hold their own nested list.
    const parts = wrapper.findAll('[role="list"] > ol')
    expect(parts[0]!.find(':scope > li:last-child > ul').text()).toBe('nested 31')
    expect(parts[1]!.find(':scope > li:first-child > ul').text()).toBe('nested 32')
    expect(wrapper.findAll('li li').map(li => li.attributes('role'))).toEqual([undefined, undefined])
  })

  it('starts another list where one ends, numbered or not', async () => {
    const bullets = (n: number, marker: string) => Array.from({ length: n }, (_, i) => `${marker} point ${i}`).join('\n')
    const wrapper = await mountSuspended(MarkdownContent, {
      props: { source: `${numbered(40, 1)}\n\nBetween.\n\n${bullets(35, '-')}\n\n## Next\n\n${bullets(3, '*')}`, complete: true },
    })
    expect(lists(wrapper).map(l => l.parts)).toEqual([['ol:32', 'ol33:8'], ['ul:32', 'ul:3'], ['ul:3']])
    expect(wrapper.find('p').text()).toBe('Between.')
  })
})
