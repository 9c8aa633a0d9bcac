import { describe, expect, it, vi } from 'vitest'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import { flushPromises } from '@vue/test-utils'
import MarkdownContent from '~/components/MarkdownContent.vue'
import { IncrementalMarkdown, renderMarkdown } from '~/utils/markdown'
import { loadMath, MATH } from '~/utils/math'

// Records when KaTeX's side of math rendering is loaded (it is only ever imported dynamically).
// The tests of this file run in order: KaTeX is not loaded until the first describe has run.
const loads = vi.hoisted(() => ({ count: 0, typeset: [] as string[] }))
vi.mock('~/utils/math-katex', async (importOriginal) => {
  loads.count++
  const katex = await importOriginal<typeof import('~/utils/math-katex')>()
  return {
    katexRender: (tex: string, display: boolean) => {
      loads.typeset.push(tex)
      return katex.katexRender(tex, display)
    },
  }
})

function dom(html: string) {
  const el = document.createElement('div')
  el.innerHTML = html
  return el
}

/** The TeX annotations KaTeX writes into its MathML: one per typeset formula. */
function formulas(el: Element) {
  return [...el.querySelectorAll('.katex annotation[encoding="application/x-tex"]')].map(a => a.textContent)
}

describe('before KaTeX is loaded', () => {
  it('does not load it for answers without math, prices, or dollars in code', async () => {
    const source = 'It costs $5 and $10, or $20-$30 a month.\n\nUse `echo $HOME` and `$x$`.\n\n```sh\necho "$PATH $1"\n```\n\n| a | b |\n|---|---|\n| $3 | $4 |\n'
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: '' } })
    for (let i = 1; i <= source.length; i += 7) await wrapper.setProps({ source: source.slice(0, i) })
    await wrapper.setProps({ source, complete: true })
    await flushPromises()
    expect(wrapper.find('table').exists()).toBe(true)
    expect(wrapper.find('.math-inline, .math-display, .katex').exists()).toBe(false)
    expect(wrapper.text()).toContain('It costs $5 and $10, or $20-$30 a month.')
    expect(loads.count).toBe(0)
  })

  it('shows a formula as its TeX source and reports that it waits for KaTeX', () => {
    const waiting = new Set<string>()
    const el = dom(renderMarkdown('Area: $\\pi r^2$.\n\n$$\nE = mc^2\n$$\n', { waiting }))
    expect([...waiting]).toEqual([MATH])
    expect(el.querySelector('.katex')).toBeNull()
    expect(el.querySelector('.math-inline.math-source')!.textContent).toBe('$\\pi r^2$')
    expect(el.querySelector('.math-display.math-source')!.textContent).toBe('$$\nE = mc^2\n$$')
  })

  it('loads KaTeX once math appears, then typesets the waiting blocks once', async () => {
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: 'Some text.\n\n' } })
    await flushPromises()
    expect(loads.count).toBe(0)
    await wrapper.setProps({ source: 'Some text.\n\nThe area is $\\pi r^2$.\n\nMore text.\n\n' })
    expect(wrapper.find('.math-source').text()).toBe('$\\pi r^2$')
    const before = wrapper.findAll('.markdown-block')[0]!.element
    await vi.waitFor(() => expect(formulas(wrapper.element)).toEqual(['\\pi r^2']))
    expect(loads.count).toBe(1)
    expect(wrapper.find('.math-source').exists()).toBe(false)
    // The block without math was not rendered again.
    expect(wrapper.findAll('.markdown-block')[0]!.element).toBe(before)
  })
})

describe('math with KaTeX loaded', () => {
  it('typesets inline and display math in every delimiter style', async () => {
    await loadMath()
    const el = dom(renderMarkdown([
      'Inline $a^2 + b^2 = c^2$ and \\(\\frac{1}{2}\\), and $$\\sum_i x_i$$ in a sentence.',
      '',
      '$$',
      '\\int_0^1 x\\,dx = \\frac12',
      '$$',
      '',
      '\\[',
      'e^{i\\pi} + 1 = 0',
      '\\]',
      '',
      '$$ x = 1 $$',
      '',
    ].join('\n')))
    expect(formulas(el)).toEqual(['a^2 + b^2 = c^2', '\\frac{1}{2}', '\\sum_i x_i', '\n\\int_0^1 x\\,dx = \\frac12\n', '\ne^{i\\pi} + 1 = 0\n', ' x = 1 '])
    expect(el.querySelectorAll('.math-display > .katex-display')).toHaveLength(3)
    expect(el.querySelectorAll('p .katex-display')).toHaveLength(1)
    expect(el.textContent).not.toContain('$')
    expect(el.querySelector('.math-source')).toBeNull()
  })

  it('takes display math that interrupts a paragraph or sits in a list', () => {
    const el = dom(renderMarkdown('The formula:\n$$\nx^2\n$$\nafter it.\n\n- item $y$\n- \\[ z \\]\n'))
    expect(formulas(el)).toEqual(['\nx^2\n', 'y', ' z '])
    expect(el.querySelector('p')!.textContent).toBe('The formula:')
  })

  it.each([
    'it costs $5 and $10',
    'between $5 and $10 a month',
    'from $20-$30',
    'pay $ 5 and 6 $ now',
    'a lone $ sign',
    'US$5, then $6.',
    'an escaped \\$x\\$ pair',
  ])('leaves dollar amounts and stray dollars as text: %s', (text) => {
    const el = dom(renderMarkdown(text))
    expect(el.querySelector('.katex, .math-inline')).toBeNull()
    expect(el.textContent!.trim()).toBe(text.replace(/\\\$/g, '$'))
  })

  it('never treats dollars in code as math', () => {
    const el = dom(renderMarkdown('Run `echo $x$` or `$$y$$`, and $a `b$` c.\n\n```\n$$\nz\n$$\n```\n\n    $w$\n'))
    expect(el.querySelector('.katex')).toBeNull()
    expect([...el.querySelectorAll('code')].map(c => c.textContent)).toEqual(['echo $x$', '$$y$$', 'b$', '$$\nz\n$$\n', '$w$\n'])
  })

  it('a backtick shown in a code span, or a lone one, does not stop later math in the sentence', () => {
    const shown = dom(renderMarkdown('Use `` ` `` for code and $x^2$ for math.'))
    expect(shown.querySelector('code')!.textContent).toBe('`')
    expect(formulas(shown)).toEqual(['x^2'])
    expect(formulas(dom(renderMarkdown('A lone ` backtick, then $y^2$.')))).toEqual(['y^2'])
  })

  it('shows a bad formula as an error, without throwing, and the rest of the answer renders', () => {
    let html = ''
    expect(() => {
      html = renderMarkdown('Before $\\frac{1}{$ and $\\undefinedcommand{x}$.\n\n$$\n\\left( x\n$$\n\nAfter **bold**.')
    }).not.toThrow()
    const el = dom(html)
    expect(el.querySelectorAll('.katex-error').length).toBeGreaterThanOrEqual(2)
    expect(el.querySelector('strong')!.textContent).toBe('bold')
    expect(el.textContent).toContain('After bold.')
  })

  it('bounds macro expansion and sizes', () => {
    const el = dom(renderMarkdown('$\\def\\a{\\a\\a}\\a$ and $\\rule{100000em}{100000em}$'))
    expect(el.querySelector('.katex-error')).not.toBeNull()
    const styles = [...el.querySelectorAll('[style]')].map(s => s.getAttribute('style')!)
    expect(styles.some(s => /\d{4,}(?:\.\d+)?em/.test(s))).toBe(false)
  })

  it.each([
    '$\\href{javascript:alert(1)}{x}$',
    '$\\url{javascript:alert(1)}$',
    '$$\\htmlClass{evil}{x}$$',
    '$\\htmlId{evil}{x}$',
    '$\\htmlStyle{background:url(javascript:alert(1))}{x}$',
    '$\\htmlData{onclick=alert(1)}{x}$',
    '$\\includegraphics{https://example.com/x.png}$',
    '$x</span><img src=x onerror=alert(1)>$',
    '\\(<script>alert(1)</script>\\)',
    '$$\n\\text{<a href="javascript:alert(1)">x</a>}\n$$',
  ])('lets no markup or link through math: %s', (source) => {
    const el = dom(renderMarkdown(source))
    expect(el.querySelector('a, img, script, [onclick], [onerror], [href], [src], .evil, #evil')).toBeNull()
    // The source may show as text (KaTeX's error colour, or its MathML annotation); never as an attribute.
    for (const node of el.querySelectorAll('*')) {
      for (const attr of node.attributes) {
        expect(attr.name).toMatch(/^(?:class|style|aria-hidden|xmlns|encoding|display|mathcolor|title|mathvariant|stretchy|fence|separator|lspace|rspace|width|height|depth|minsize|maxsize|accent|accentunder|linethickness|scriptlevel|displaystyle)$/)
        expect(attr.value).not.toMatch(/javascript:/i)
      }
    }
  })
})

describe('math while an answer streams', () => {
  it('shows an open $$ block as source and typesets it once its closing line arrives', () => {
    const answer = 'Intro.\n\n$$\n\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}\n$$\n\nThen $x$ and more.\n'
    const markdown = new IncrementalMarkdown()
    const closedAt = answer.indexOf('$$\n\nThen') + 2
    for (let i = 1; i <= answer.length; i++) {
      const text = answer.slice(0, i)
      const el = dom(markdown.update(text).map(b => b.html).join(''))
      const display = el.querySelectorAll('.math-display .katex-display').length
      expect(display, JSON.stringify(text.slice(-20))).toBe(i >= closedAt ? 1 : 0)
      if (i > answer.indexOf('$$') + 1 && i < closedAt) expect(el.textContent).toContain('$$')
    }
    // Each formula is typeset once, however often its block is parsed while it is the growing end.
    expect(loads.typeset.filter(tex => tex.includes('\\sum_{k=1}^{n}'))).toHaveLength(1)
    expect(loads.typeset.filter(tex => tex === 'x')).toHaveLength(1)
  })

  it('while a code span is still open at the growing end, $…$ inside it is not math yet', () => {
    const markdown = new IncrementalMarkdown()
    expect(dom(markdown.update('Try `echo $HOME$').map(b => b.html).join('')).querySelector('.katex')).toBeNull()
    expect(dom(markdown.update('Try `echo $HOME$` and $z$', { complete: true }).map(b => b.html).join('')).querySelector('code')!.textContent).toBe('echo $HOME$')
  })

  it('typesets each formula of a long growing table once, not on every update', () => {
    const rows = Array.from({ length: 150 }, (_, i) => `| $a_{${i}}$ | $b_{${i}}^2$ |`)
    const answer = `| a | b |\n|---|---|\n${rows.join('\n')}\n`
    const markdown = new IncrementalMarkdown()
    const before = loads.typeset.length
    for (let i = 40; i <= answer.length; i += 40) markdown.update(answer.slice(0, i))
    markdown.update(answer, { complete: true })
    const typeset = loads.typeset.slice(before)
    // 300 formulas, each typeset about once (a formula cut mid-way may be typeset in its partial form too).
    expect(new Set(typeset.filter(t => /^[ab]_\{\d+\}(\^2)?$/.test(t))).size).toBe(300)
    expect(typeset.length).toBeLessThan(450)
  })

  it('keeps a finished math block while the answer grows', async () => {
    const wrapper = await mountSuspended(MarkdownContent, { props: { source: 'Look:\n\n$$\nx^2\n' } })
    expect(wrapper.find('.katex').exists()).toBe(false)
    expect(wrapper.text()).toContain('$$')
    await wrapper.setProps({ source: 'Look:\n\n$$\nx^2\n$$\n\nAfter.' })
    await vi.waitFor(() => expect(wrapper.find('.math-display .katex').exists()).toBe(true))
    const block = wrapper.findAll('.markdown-block')[1]!.element
    await wrapper.setProps({ source: 'Look:\n\n$$\nx^2\n$$\n\nAfter that, more.\n\nAnd more.' })
    expect(wrapper.findAll('.markdown-block')[1]!.element).toBe(block)
  })
})
