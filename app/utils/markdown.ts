import MarkdownIt from 'markdown-it'
import type Token from 'markdown-it/lib/token.mjs'
import { highlightCode, highlightPending } from './highlight'
import { MATH, mathPending, mathPlugin } from './math'

/** Schemes a link in model output may use; anything else stays plain text. */
const SAFE_SCHEMES = new Set(['http', 'https', 'mailto'])

function isSafeUrl(url: string): boolean {
  const scheme = /^([a-z][a-z\d+.-]*):/i.exec(url.trim())
  return !scheme || SAFE_SCHEMES.has(scheme[1]!.toLowerCase())
}

export interface RenderOptions {
  /** The answer has ended: a code fence still open at the end counts as complete. */
  complete?: boolean
  /**
   * Receives what the HTML waits for: the languages of complete code blocks left plain because
   * their grammar is not loaded yet, and MATH for formulas shown as source until KaTeX loads.
   */
  waiting?: Set<string>
}

interface RenderEnv extends RenderOptions {
  source: string
  lines?: string[]
}

let renderer: MarkdownIt | undefined

function escapeHtml(text: string): string {
  renderer ??= createRenderer()
  return renderer.utils.escapeHtml(text)
}

/** The language of a fence's info string, as markdown-it reads it (`ts title="x"` → `ts`). */
function fenceLanguage(md: MarkdownIt, info: string): string {
  return info ? md.utils.unescapeAll(info).trim().split(/\s+/)[0] ?? '' : ''
}

/** A code block: a bar with its language and a copy button, then the code (plain or highlighted). */
function codeBlockHtml(lang: string, code: string, highlighted?: string): string {
  const cls = lang ? ` class="language-${escapeHtml(lang)}"` : ''
  const pre = highlighted ?? `<pre><code${cls}>${escapeHtml(code)}</code></pre>`
  const label = lang ? `<span class="code-block-lang">${escapeHtml(lang)}</span>` : '<span class="code-block-lang"></span>'
  return `<div class="code-block"><div class="code-block-bar">${label}`
    + `<button type="button" class="code-block-copy" aria-label="Copy code">Copy</button></div>${pre}</div>\n`
}

/** Whether a fence token ends with its closing fence (rather than with the end of the text). */
function fenceClosed(token: Token, env: RenderEnv): boolean {
  if (!token.map || token.map[1] - 1 <= token.map[0]) return false
  env.lines ??= env.source.split(/\r\n?|\n/)
  const last = (env.lines[token.map[1] - 1] ?? '').replace(/^[ \t>]*/, '')
  const close = /^(`{3,}|~{3,})[ \t]*$/.exec(last)
  return !!close && close[1]![0] === token.markup[0] && close[1]!.length >= token.markup.length
}

function createRenderer(): MarkdownIt {
  // Model output is untrusted: no raw HTML, and only links with a known-safe scheme.
  const md = new MarkdownIt({ html: false, linkify: true, breaks: false })
  md.validateLink = isSafeUrl
  md.use(mathPlugin)

  md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
    const token = tokens[idx]!
    token.attrSet('target', '_blank')
    token.attrSet('rel', 'noopener noreferrer nofollow')
    return self.renderToken(tokens, idx, options)
  }

  // Images are not loaded: a model (or a prompt injected into it) could use an image URL
  // to send data away as soon as the answer renders. Show them as links instead.
  md.renderer.rules.image = (tokens, idx, _options, _env, self) => {
    const token = tokens[idx]!
    const src = token.attrGet('src') ?? ''
    const alt = self.renderInlineAsText(token.children ?? [], _options, _env) || src
    const label = md.utils.escapeHtml(`Image: ${alt}`)
    if (!src) return label
    return `<a href="${md.utils.escapeHtml(src)}" target="_blank" rel="noopener noreferrer nofollow">${label}</a>`
  }

  // Fenced code: highlighted only once complete (never while it still grows) and only with
  // a grammar already loaded; otherwise escaped plain text, and the language is reported.
  md.renderer.rules.fence = (tokens, idx, _options, env: RenderEnv | undefined) => {
    const token = tokens[idx]!
    const lang = fenceLanguage(md, token.info)
    let highlighted: string | undefined
    if (lang && env?.source !== undefined && (env.complete || fenceClosed(token, env))) {
      highlighted = highlightCode(token.content, lang)
      if (highlighted === undefined && highlightPending(lang)) env.waiting?.add(lang.toLowerCase())
    }
    return codeBlockHtml(lang, token.content, highlighted)
  }
  return md
}

/** Renders one piece of untrusted markdown to HTML that is safe for `v-html`. */
export function renderMarkdown(source: string, options: RenderOptions = {}): string {
  renderer ??= createRenderer()
  const env: RenderEnv = { ...options, source }
  return renderer.render(source, env)
}

/** Whether something a render waited for (a grammar, KaTeX) can still arrive. */
function stillPending(awaited: string): boolean {
  return awaited === MATH ? mathPending() : highlightPending(awaited)
}

/** The language of a fence opening line, as markdown-it reads it. */
function openerLanguage(line: string): string {
  renderer ??= createRenderer()
  const token = renderer.parse(line, {}).find(t => t.type === 'fence')
  return token ? fenceLanguage(renderer, token.info) : ''
}

export interface MarkdownBlock {
  key: number
  html: string
}

interface FinishedBlock {
  block: MarkdownBlock
  start: number
  end: number
  /** Languages this block's code waits for, and MATH (rendered plain until they load). */
  waiting: string[]
}

/** A code fence opened at the very start of the growing tail: its text is escaped line by line. */
interface OpenFence {
  lang: string
  contentStart: number
  escaped: string
  escapedTo: number
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/
const LIST_ITEM = /^(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/

/**
 * Renders a growing markdown text block by block.
 *
 * The text is cut into top-level blocks at blank lines outside fenced code. A block is
 * finished once the next block has begun; it is rendered once and cached. Only the last,
 * still growing block is rendered again on each update, so a long answer costs time
 * linear in its length instead of quadratic. A code fence that opens the growing block is
 * not even parsed again: while open, its new lines are escaped and appended.
 *
 * A blank line does not end a block when the next line is indented (list item
 * continuations, indented code) or continues a list, so that those render as one piece.
 *
 * Code is highlighted once complete and once its grammar is loaded, math typeset once KaTeX
 * is loaded: `wanted` lists the languages (and MATH) to load, and `refresh()` re-renders,
 * once, the blocks that were waiting.
 */
export class IncrementalMarkdown {
  private source = ''
  private finished: FinishedBlock[] = []
  private blockStart = 0
  private scanPos = 0
  private fence: { char: string, length: number } | null = null
  private openFence: OpenFence | null = null
  private blankSeen = false
  private blockHasContent = false
  private inList = false
  private tail: MarkdownBlock | null = null
  private tailWaiting: string[] = []
  private complete = false
  /** Languages seen in code fences, and MATH once a formula was met, for the caller to load (see takeWanted()). */
  private wanted = new Set<string>()
  private requested = new Set<string>()

  constructor(private readonly render: (source: string, options?: RenderOptions) => string = renderMarkdown) {}

  /**
   * Returns the blocks for `text`; finished blocks keep their identity between calls.
   * `complete`: the text will not grow any more (an open fence at its end is complete).
   */
  update(text: string, { complete = false }: { complete?: boolean } = {}): MarkdownBlock[] {
    if (!text.startsWith(this.source)) this.reset()
    const grew = text.length !== this.source.length || this.tail === null || complete !== this.complete
    this.source = text
    this.complete = complete
    this.scan()
    if (grew) this.renderTail()
    return this.blocks()
  }

  /** Whether takeWanted() has languages to give. */
  hasWanted(): boolean {
    return [...this.wanted].some(lang => !this.requested.has(lang))
  }

  /** Languages (and MATH) seen since the last call that were not asked for before. */
  takeWanted(): string[] {
    const langs = [...this.wanted].filter(lang => !this.requested.has(lang))
    for (const lang of langs) this.requested.add(lang)
    this.wanted.clear()
    return langs
  }

  /** Re-renders the blocks whose code was waiting for a grammar (or math for KaTeX) that is now loaded. */
  refresh(): MarkdownBlock[] {
    const ready = (awaited: string[]) => awaited.length > 0 && !awaited.some(stillPending)
    for (const entry of this.finished) {
      if (!ready(entry.waiting)) continue
      const { html, waiting } = this.renderPiece(this.source.slice(entry.start, entry.end), true)
      entry.block = { key: entry.block.key, html }
      entry.waiting = waiting
    }
    if (ready(this.tailWaiting)) this.renderTail()
    return this.blocks()
  }

  private blocks(): MarkdownBlock[] {
    const blocks = this.finished.map(f => f.block)
    if (this.tail) blocks.push(this.tail)
    return blocks
  }

  private reset() {
    this.source = ''
    this.finished = []
    this.blockStart = 0
    this.scanPos = 0
    this.fence = null
    this.openFence = null
    this.blankSeen = false
    this.blockHasContent = false
    this.inList = false
    this.tail = null
    this.tailWaiting = []
  }

  private renderPiece(source: string, complete: boolean): { html: string, waiting: string[] } {
    const waiting = new Set<string>()
    const html = this.render(source, { complete, waiting })
    for (const lang of waiting) this.wanted.add(lang)
    return { html, waiting: [...waiting] }
  }

  private renderTail() {
    const rest = this.source.slice(this.blockStart)
    this.tailWaiting = []
    if (!rest.trim()) {
      this.tail = null
      return
    }
    const key = this.finished.length
    const fast = this.complete ? null : this.openFenceHtml()
    if (fast !== null) {
      this.tail = { key, html: fast }
      return
    }
    const { html, waiting } = this.renderPiece(rest, this.complete)
    this.tailWaiting = waiting
    this.tail = { key, html }
  }

  /** The tail's HTML when it is one still-open fence, built without parsing; else null. */
  private openFenceHtml(): string | null {
    const open = this.openFence
    if (!open || !this.fence) return null
    const text = this.source
    // Escape the lines that arrived since the last time (a line is escaped once).
    const lastNewline = text.lastIndexOf('\n')
    if (lastNewline + 1 > open.escapedTo) {
      const lines = text.slice(open.escapedTo, lastNewline + 1)
      if (/[\r\0]/.test(lines)) return null
      open.escaped += escapeHtml(lines)
      open.escapedTo = lastNewline + 1
    }
    let partial = text.slice(open.escapedTo)
    if (/[\r\0]/.test(partial)) return null
    // markdown-it drops a last line of only spaces and tabs that has no newline yet.
    if (/^[ \t]+$/.test(partial)) partial = ''
    // A partial last line may already be the closing fence: let markdown-it decide.
    const closing = new RegExp(`^ {0,3}${this.fence.char === '`' ? '`' : '~'}{${this.fence.length},}[ \\t]*$`)
    if (closing.test(partial)) return null
    return codeBlockHtml(open.lang, '', `<pre><code${open.lang ? ` class="language-${escapeHtml(open.lang)}"` : ''}>${open.escaped}${escapeHtml(partial)}</code></pre>`)
  }

  /** Looks at the complete lines that arrived since the last call. */
  private scan() {
    const text = this.source
    for (let end = text.indexOf('\n', this.scanPos); end !== -1; end = text.indexOf('\n', this.scanPos)) {
      const start = this.scanPos
      this.line(text.slice(start, end), start, end + 1)
      this.scanPos = end + 1
    }
  }

  private line(line: string, start: number, next: number) {
    if (this.fence) {
      const close = new RegExp(`^ {0,3}${this.fence.char === '`' ? '`' : '~'}{${this.fence.length},}[ \\t]*$`)
      if (close.test(line)) {
        this.fence = null
        this.openFence = null
      }
      return
    }
    if (!line.trim()) {
      if (this.blockHasContent) this.blankSeen = true
      return
    }
    const indented = /^[ \t]/.test(line)
    const listItem = !indented && LIST_ITEM.test(line)
    if (this.blankSeen && !indented && !(listItem && this.inList)) {
      const source = this.source.slice(this.blockStart, start)
      const { html, waiting } = this.renderPiece(source, true)
      this.finished.push({ block: { key: this.finished.length, html }, start: this.blockStart, end: start, waiting })
      this.blockStart = start
    }
    this.blankSeen = false
    this.blockHasContent = true
    if (!indented) this.inList = listItem
    const open = FENCE_OPEN.exec(line)
    if (open && !(open[1]![0] === '`' && line.slice(open[0].length).includes('`'))) {
      this.fence = { char: open[1]![0]!, length: open[1]!.length }
      const lang = openerLanguage(line)
      if (lang) this.wanted.add(lang.toLowerCase())
      // Only a fence that starts the block at column 0 takes the no-parse path.
      this.openFence = start === this.blockStart && open[0] === open[1]
        ? { lang, contentStart: next, escaped: '', escapedTo: next }
        : null
    }
  }
}
