import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import { flushPromises } from '@vue/test-utils'
import MarkdownContent from '~/components/MarkdownContent.vue'
import { loadHighlighting } from '~/utils/highlight'
import { IncrementalMarkdown, renderMarkdown } from '~/utils/markdown'

function dom(html: string) {
  const el = document.createElement('div')
  el.innerHTML = html
  return el
}

/** Colored token spans of highlighted code: shiki writes both themes' colours as variables. */
function coloredTokens(el: Element) {
  return [...el.querySelectorAll('pre.shiki code span span[style]')]
    .filter(s => /--shiki-light:#[\da-f]+/i.test(s.getAttribute('style') ?? '') && /--shiki-dark:#[\da-f]+/i.test(s.getAttribute('style') ?? ''))
}

/** How many fences of `text` have their closing line (a line that is exactly ```). */
function closedFences(text: string) {
  let open = false
  let closed = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith('```')) continue
    if (open && line === '```') closed++
    open = !open
  }
  return closed
}

const TS = 'interface User { name: string }\nconst id: number = 42 < 43\n'
const PY = 'def greet(name):\n    return f"hi {name}"\n'

describe('highlighting in the renderer', () => {
  beforeAll(async () => {
    expect(await loadHighlighting(['ts', 'python', 'py'])).toBe(true)
  })

  it.each([['ts', TS], ['python', PY], ['py', PY]])('highlights a complete %s block, keeping its text and language', (lang, code) => {
    const el = dom(renderMarkdown(`Here:\n\n\`\`\`${lang}\n${code}\`\`\`\n\nDone.`))
    const pre = el.querySelector('pre.shiki')!
    expect(pre).not.toBeNull()
    expect(coloredTokens(el).length).toBeGreaterThan(3)
    expect(pre.querySelector('code')!.className).toBe(`language-${lang}`)
    expect(pre.querySelector('code')!.textContent).toBe(code)
    expect(el.querySelector('.code-block-lang')!.textContent).toBe(lang)
  })

  it('leaves a still-open block plain, and highlights it once the answer is complete', () => {
    const open = `\`\`\`ts\n${TS}`
    const el = dom(renderMarkdown(open))
    expect(el.querySelector('.shiki, span[style]')).toBeNull()
    expect(el.querySelector('pre > code.language-ts')!.textContent).toBe(TS)
    expect(coloredTokens(dom(renderMarkdown(open, { complete: true }))).length).toBeGreaterThan(3)
  })

  it('leaves an unknown language as plain text', async () => {
    expect(await loadHighlighting(['no-such-language'])).toBe(false)
    const el = dom(renderMarkdown('```no-such-language\nsome <code>\n```\n'))
    expect(el.querySelector('.shiki, pre span')).toBeNull()
    const code = el.querySelector('pre > code')!
    expect(code.className).toBe('language-no-such-language')
    expect(code.textContent).toBe('some <code>\n')
  })

  it.each(['ts', 'html', 'python'])('keeps markup inside a %s block as text', async (lang) => {
    await loadHighlighting([lang])
    const code = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>\n</code></pre><img src=y onerror=alert(1)>\n'
    const el = dom(renderMarkdown(`\`\`\`${lang}\n${code}\`\`\`\n`))
    expect(el.querySelector('pre.shiki')).not.toBeNull()
    expect(el.querySelector('img, script, [onerror]')).toBeNull()
    expect(el.querySelector('pre code')!.textContent).toBe(code)
  })
})

describe('highlighting while an answer streams', () => {
  beforeAll(async () => {
    await loadHighlighting(['ts', 'python'])
  })

  it('highlights a block only once its closing fence arrives', () => {
    const answer = `Intro.\n\n\`\`\`ts\n${TS}\`\`\`\n\nMiddle.\n\n\`\`\`python\n${PY}\`\`\`\n\nThe end.`
    const render = vi.fn(renderMarkdown)
    const markdown = new IncrementalMarkdown(render)
    for (let i = 1; i <= answer.length; i++) {
      const text = answer.slice(0, i)
      const html = markdown.update(text).map(b => b.html).join('')
      const el = dom(html)
      const closed = closedFences(text)
      expect(el.querySelectorAll('pre.shiki'), JSON.stringify(text.slice(-20))).toHaveLength(closed)
      // What is shown is always the same text as rendering the whole text at once.
      expect(el.textContent).toBe(dom(renderMarkdown(text)).textContent)
    }
    // Each code block is parsed only while it is complete: never as a growing open fence.
    const openFenceRenders = render.mock.calls.filter(([s]) => /^```\w+\n[\s\S]*\n[^`\n]/.test(s) && !/\n```/.test(s))
    expect(openFenceRenders).toEqual([])
  })

  it('renders a growing code block without parsing it, with the same HTML markdown-it gives', () => {
    const body = Array.from({ length: 300 }, (_, i) => i % 10 === 3 ? '  \t ' : `${' '.repeat(i % 5)}line ${i} <b>&amp;</b> "q"`).join('\n')
    const text = `\`\`\`ts\n${body}\n\`\`\`\n`
    const render = vi.fn(renderMarkdown)
    const markdown = new IncrementalMarkdown(render)
    for (let i = 1; i <= text.length; i += 3) {
      const part = text.slice(0, i)
      expect(markdown.update(part).map(b => b.html).join('')).toBe(renderMarkdown(part))
    }
    // Parsed only for the opening line and once complete, not once per delta.
    expect(render.mock.calls.length).toBeLessThan(10)
  })
})

describe('MarkdownContent with code', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('shows a streaming block plain, highlights it once closed, and the finished block stays', async () => {
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: 'Look:\n\n```python\nprint("hi")\n' } })
    await flushPromises()
    expect(wrapper.find('pre.shiki').exists()).toBe(false)
    expect(wrapper.find('pre > code').text()).toBe('print("hi")')

    await wrapper.setProps({ source: 'Look:\n\n```python\nprint("hi")\n```\n\nAfter.' })
    await vi.waitFor(() => expect(wrapper.find('pre.shiki').exists()).toBe(true))
    const block = wrapper.findAll('.markdown-block')[1]!.element
    expect(coloredTokens(wrapper.element).length).toBeGreaterThan(1)
    await wrapper.setProps({ source: 'Look:\n\n```python\nprint("hi")\n```\n\nAfter that, more.\n\nAnd more.' })
    expect(wrapper.findAll('.markdown-block')[1]!.element).toBe(block)
  })

  it('highlights a finished block far up a long answer once its grammar arrives', async () => {
    const rest = Array.from({ length: 40 }, (_, i) => `Paragraph ${i}.`).join('\n\n')
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: 'Intro.' } })
    // The code block is finished, with many blocks after it, before its grammar has loaded.
    await wrapper.setProps({ source: `Intro.\n\n\`\`\`go\nfunc main() {}\n\`\`\`\n\n${rest}\n` })
    expect(wrapper.findAll('.markdown-block')).toHaveLength(42)
    expect(wrapper.find('pre.shiki').exists()).toBe(false)
    await vi.waitFor(() => expect(wrapper.find('pre.shiki').exists()).toBe(true))
    expect(wrapper.findAll('.markdown-block')[1]!.find('pre.shiki').text()).toBe('func main() {}')
    expect(wrapper.findAll('.markdown-block').at(-1)!.text()).toBe('Paragraph 39.')
  })

  it('highlights a block left open when the answer is complete', async () => {
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: '```ts\nconst a = 1\n', complete: false } })
    expect(wrapper.find('pre.shiki').exists()).toBe(false)
    await wrapper.setProps({ complete: true })
    await vi.waitFor(() => expect(wrapper.find('pre.shiki').exists()).toBe(true))
  })

  it('copies only the code with the copy button and says so briefly', async () => {
    const writeText = vi.fn(async (_text: string) => {})
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const wrapper = await mountSuspended(MarkdownContent, {
        props: { source: 'Two blocks:\n\n```ts\nconst a = 1\n```\n\n```unknownlang\nfirst\nsecond <b>\n```\n' },
      })
      const buttons = wrapper.findAll('button[aria-label="Copy code"]')
      expect(buttons).toHaveLength(2)
      await buttons[1]!.trigger('click')
      await flushPromises()
      expect(writeText).toHaveBeenLastCalledWith('first\nsecond <b>')
      expect(buttons[1]!.text()).toBe('Copied')
      expect(buttons[0]!.text()).toBe('Copy')
      await buttons[0]!.trigger('click')
      await flushPromises()
      expect(writeText).toHaveBeenLastCalledWith('const a = 1')
      vi.advanceTimersByTime(2000)
      expect(buttons.map(b => b.text())).toEqual(['Copy', 'Copy'])
    }
    finally {
      vi.useRealTimers()
    }
  })

  it('says when copying failed', async () => {
    const writeText = vi.fn(async () => {
      throw new Error('denied')
    })
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } })
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: '```\nx\n```\n' } })
    await wrapper.find('button[aria-label="Copy code"]').trigger('click')
    await flushPromises()
    expect(wrapper.find('button[aria-label="Copy code"]').text()).toBe('Copy failed')
  })

  it('keeps model HTML inside a highlighted block as text', async () => {
    const source = '```html\n<img src=x onerror="alert(1)"><script>alert(2)</script>\n```\n'
    const wrapper = await mountSuspended(MarkdownContent, { props: { source } })
    await vi.waitFor(() => expect(wrapper.find('pre.shiki').exists()).toBe(true))
    expect(wrapper.find('img, script, [onerror]').exists()).toBe(false)
    expect(wrapper.find('pre code').text()).toBe('<img src=x onerror="alert(1)"><script>alert(2)</script>')
  })
})
