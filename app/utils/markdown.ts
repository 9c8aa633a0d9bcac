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

export interface ListItemHtml {
  /** The item's HTML inside its `<li>`. */
  html: string
  ordered: boolean
  /** The bullet (`-`, `*`, `+`) or the number's delimiter (`.`, `)`): another one starts another list. */
  marker: string
  start: number
  /** Rendered alone, the item is loose (a blank line between its blocks): so is its whole list. */
  loose: boolean
}

/**
 * Renders `source` as one item of a top-level list, or null when it is not exactly that (text
 * after the list, a second item, no list at all). `loose` renders its paragraphs as a loose
 * list's, whatever the item alone would be (CommonMark makes a whole list loose or tight).
 */
export function renderListItem(source: string, options: RenderOptions & { loose?: boolean } = {}): ListItemHtml | null {
  renderer ??= createRenderer()
  const env: RenderEnv = { ...options, source }
  const tokens = renderer.parse(source, env)
  const open = tokens[0]
  const close = tokens.at(-1)
  if (!open || !close || (open.type !== 'bullet_list_open' && open.type !== 'ordered_list_open')) return null
  if (close.type !== open.type.replace('_open', '_close')) return null
  let loose = false
  for (let i = 1; i < tokens.length - 1; i++) {
    const token = tokens[i]!
    if (token.level === 0) return null
    if (token.level === 1 && token.type === 'list_item_open' && i !== 1) return null
    if (token.level === 2 && (token.type === 'paragraph_open' || token.type === 'paragraph_close')) {
      if (!token.hidden) loose = true
      if (options.loose) token.hidden = false
    }
  }
  const html = renderer.renderer.render(tokens, renderer.options, env)
  const head = /^<[ou]l(?: start="\d+")?>\n<li>/.exec(html)
  const tail = `</li>\n</${open.tag}>\n`
  if (!head || !html.endsWith(tail)) return null
  const ordered = open.type === 'ordered_list_open'
  return {
    html: html.slice(head[0].length, html.length - tail.length),
    ordered,
    marker: open.markup,
    start: ordered ? Number(open.attrGet('start') ?? 1) : 1,
    loose,
  }
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

/** A top-level list: its items are rendered one by one (`html` is the list's HTML, built when read). */
export interface MarkdownList {
  ordered: boolean
  start: number
  items: MarkdownBlock[]
}

export interface MarkdownBlock {
  key: number
  html: string
  list?: MarkdownList
}

function listBlock(key: number, list: MarkdownList): MarkdownBlock {
  return {
    key,
    list,
    get html() {
      const open = list.ordered ? `<ol${list.start !== 1 ? ` start="${list.start}"` : ''}>\n` : '<ul>\n'
      return `${open}${list.items.map(item => `<li>${item.html}</li>\n`).join('')}</${list.ordered ? 'ol' : 'ul'}>\n`
    },
  }
}

interface FinishedBlock {
  block: MarkdownBlock
  start: number
  end: number
  /** Languages this block's code waits for, and MATH (rendered plain until they load). */
  waiting: string[]
  /** A list rendered item by item: its items (refresh() re-renders those that wait). */
  list?: ListState
}

interface FinishedItem {
  block: MarkdownBlock
  start: number
  end: number
  waiting: string[]
}

/** A block that is one top-level list so far, cut at its items: finished items are rendered once. */
interface ListState {
  ordered: boolean
  marker: string
  start: number
  loose: boolean
  items: FinishedItem[]
  /** Where the open (last) item starts. */
  itemStart: number
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
  /** The growing block is one list cut at its items; null when it is not, or stopped being, one. */
  private list: ListState | null = null
  private tail: MarkdownBlock | null = null
  /** The incomplete first line of the block after a list, shown apart from the list. */
  private after: MarkdownBlock | null = null
  private tailWaiting: string[] = []
  private complete = false
  /** Languages seen in code fences, and MATH once a formula was met, for the caller to load (see takeWanted()). */
  private wanted = new Set<string>()
  private requested = new Set<string>()

  /** Renders one list item (see renderListItem); a list is rendered whole without it. */
  private readonly renderItem: typeof renderListItem | null

  /**
   * `render` and `renderItem` default to renderMarkdown and renderListItem. With another `render`
   * and no `renderItem`, lists are rendered whole by `render`.
   */
  constructor(
    private readonly render: (source: string, options?: RenderOptions) => string = renderMarkdown,
    renderItem?: typeof renderListItem,
  ) {
    this.renderItem = renderItem ?? (render === renderMarkdown ? renderListItem : null)
  }

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
    const refreshItems = (list: ListState) => {
      let changed = false
      for (const item of list.items) {
        if (!ready(item.waiting)) continue
        const rendered = this.renderListPiece(list, item.start, item.end, true)
        if (!rendered) continue
        item.block = { key: item.block.key, html: rendered.html }
        item.waiting = rendered.waiting
        changed = true
      }
      return changed
    }
    for (const entry of this.finished) {
      if (entry.list) {
        if (refreshItems(entry.list)) entry.block = listBlock(entry.block.key, this.listOf(entry.list))
        continue
      }
      if (!ready(entry.waiting)) continue
      const { html, waiting } = this.renderPiece(this.source.slice(entry.start, entry.end), true)
      entry.block = { key: entry.block.key, html }
      entry.waiting = waiting
    }
    if (this.list && refreshItems(this.list)) this.renderTail()
    if (ready(this.tailWaiting)) this.renderTail()
    return this.blocks()
  }

  private blocks(): MarkdownBlock[] {
    const blocks = this.finished.map(f => f.block)
    if (this.tail) blocks.push(this.tail)
    if (this.tail && this.after) blocks.push(this.after)
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
    this.list = null
    this.tail = null
    this.after = null
    this.tailWaiting = []
  }

  private listOf(list: ListState, ...open: MarkdownBlock[]): MarkdownList {
    const items = list.items.map(item => item.block)
    items.push(...open)
    return { ordered: list.ordered, start: list.start, items }
  }

  /**
   * Renders the item at [start, end) of `list`, or null when it does not continue the list (not
   * one item, or another kind of list). An item that turns the list loose re-renders the earlier ones.
   */
  private renderListPiece(list: ListState, start: number, end: number, complete: boolean, blankAfter = false): { html: string, waiting: string[] } | null {
    const waiting = new Set<string>()
    const source = this.source.slice(start, end)
    let item = this.renderItem!(source, { complete, waiting, loose: list.loose })
    if (!item) return null
    if (list.items.length > 0 || start !== this.blockStart) {
      if (item.ordered !== list.ordered || item.marker !== list.marker) return null
    }
    else {
      list.ordered = item.ordered
      list.marker = item.marker
      list.start = item.start
    }
    if (!list.loose && (item.loose || blankAfter)) {
      list.loose = true
      item = this.renderItem!(source, { complete, waiting, loose: true })
      if (!item) return null
      for (const earlier of list.items) {
        const again = this.renderListPiece(list, earlier.start, earlier.end, true)
        if (!again) return null
        earlier.block = { key: earlier.block.key, html: again.html }
        earlier.waiting = again.waiting
      }
    }
    for (const lang of waiting) this.wanted.add(lang)
    return { html: item.html, waiting: [...waiting] }
  }

  /** Finishes the list's open item, which ends at `end`; false when the block is not one list after all. */
  private finishItem(list: ListState, end: number, blankAfter: boolean): boolean {
    const rendered = this.renderListPiece(list, list.itemStart, end, true, blankAfter)
    if (!rendered) return false
    list.items.push({ block: { key: list.items.length, html: rendered.html }, start: list.itemStart, end, waiting: rendered.waiting })
    list.itemStart = end
    return true
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
    this.after = null
    if (!rest.trim()) {
      this.tail = null
      return
    }
    const key = this.finished.length
    const list = this.list
    if (list) {
      // Only the open item is rendered again (and the one before it while the first line of the
      // next is still incomplete); a block that is not one list after all is rendered whole.
      const partial = this.source.slice(this.scanPos)
      // After a blank line, an incomplete unindented line that is no list item begins the next block.
      const ended = !this.fence && this.blankSeen && /^[^ \t]/.test(partial) && !LIST_ITEM.test(partial)
      const end = ended ? this.scanPos : this.source.length
      const next = !this.fence && !ended && this.scanPos > list.itemStart && LIST_ITEM.test(partial)
      const pieces: [number, number, boolean][] = next
        ? [[list.itemStart, this.scanPos, this.blankSeen], [this.scanPos, end, false]]
        : [[list.itemStart, end, false]]
      const items: MarkdownBlock[] = []
      const waiting: string[] = []
      for (const [from, to, blankAfter] of pieces) {
        const item = this.renderListPiece(list, from, to, next && to !== end ? true : this.complete, blankAfter)
        if (!item) break
        items.push({ key: list.items.length + items.length, html: item.html })
        waiting.push(...item.waiting)
      }
      if (items.length === pieces.length) {
        this.tail = listBlock(key, this.listOf(list, ...items))
        if (ended) {
          const after = this.renderPiece(partial, this.complete)
          this.after = { key: key + 1, html: after.html }
          waiting.push(...after.waiting)
        }
        this.tailWaiting = waiting
        return
      }
    }
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
      const list = this.list
      const key = this.finished.length
      if (list && this.finishItem(list, start, false)) {
        this.finished.push({ block: listBlock(key, this.listOf(list)), start: this.blockStart, end: start, waiting: [], list })
      }
      else {
        const source = this.source.slice(this.blockStart, start)
        const { html, waiting } = this.renderPiece(source, true)
        this.finished.push({ block: { key, html }, start: this.blockStart, end: start, waiting })
      }
      this.blockStart = start
      this.list = null
      this.blockHasContent = false
    }
    if (listItem && !this.blockHasContent && this.renderItem) {
      this.list = { ordered: false, marker: '', start: 1, loose: false, items: [], itemStart: start }
    }
    else if (listItem && this.list && start !== this.list.itemStart && !this.finishItem(this.list, start, this.blankSeen)) {
      this.list = null
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
