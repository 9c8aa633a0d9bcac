import MarkdownIt from 'markdown-it'

/** Schemes a link in model output may use; anything else stays plain text. */
const SAFE_SCHEMES = new Set(['http', 'https', 'mailto'])

function isSafeUrl(url: string): boolean {
  const scheme = /^([a-z][a-z\d+.-]*):/i.exec(url.trim())
  return !scheme || SAFE_SCHEMES.has(scheme[1]!.toLowerCase())
}

function createRenderer(): MarkdownIt {
  // Model output is untrusted: no raw HTML, and only links with a known-safe scheme.
  const md = new MarkdownIt({ html: false, linkify: true, breaks: false })
  md.validateLink = isSafeUrl

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
  return md
}

let renderer: MarkdownIt | undefined

/** Renders one piece of untrusted markdown to HTML that is safe for `v-html`. */
export function renderMarkdown(source: string): string {
  renderer ??= createRenderer()
  return renderer.render(source)
}

export interface MarkdownBlock {
  key: number
  html: string
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/
const LIST_ITEM = /^(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/

/**
 * Renders a growing markdown text block by block.
 *
 * The text is cut into top-level blocks at blank lines outside fenced code. A block is
 * finished once the next block has begun; it is rendered once and cached. Only the last,
 * still growing block is rendered again on each update, so a long answer costs time
 * linear in its length instead of quadratic.
 *
 * A blank line does not end a block when the next line is indented (list item
 * continuations, indented code) or continues a list, so that those render as one piece.
 */
export class IncrementalMarkdown {
  private source = ''
  private finished: MarkdownBlock[] = []
  private blockStart = 0
  private scanPos = 0
  private fence: { char: string, length: number } | null = null
  private blankSeen = false
  private blockHasContent = false
  private inList = false
  private tail: MarkdownBlock | null = null

  constructor(private readonly render: (source: string) => string = renderMarkdown) {}

  /** Returns the blocks for `text`; finished blocks keep their identity between calls. */
  update(text: string): MarkdownBlock[] {
    if (!text.startsWith(this.source)) this.reset()
    const grew = text.length !== this.source.length || this.tail === null
    this.source = text
    this.scan()
    if (grew) {
      const rest = this.source.slice(this.blockStart)
      this.tail = rest.trim() ? { key: this.finished.length, html: this.render(rest) } : null
    }
    return this.tail ? [...this.finished, this.tail] : [...this.finished]
  }

  private reset() {
    this.source = ''
    this.finished = []
    this.blockStart = 0
    this.scanPos = 0
    this.fence = null
    this.blankSeen = false
    this.blockHasContent = false
    this.inList = false
    this.tail = null
  }

  /** Looks at the complete lines that arrived since the last call. */
  private scan() {
    const text = this.source
    for (let end = text.indexOf('\n', this.scanPos); end !== -1; end = text.indexOf('\n', this.scanPos)) {
      const start = this.scanPos
      this.line(text.slice(start, end), start)
      this.scanPos = end + 1
    }
  }

  private line(line: string, start: number) {
    if (this.fence) {
      const close = new RegExp(`^ {0,3}${this.fence.char === '`' ? '`' : '~'}{${this.fence.length},}[ \\t]*$`)
      if (close.test(line)) this.fence = null
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
      this.finished.push({ key: this.finished.length, html: this.render(source) })
      this.blockStart = start
    }
    this.blankSeen = false
    this.blockHasContent = true
    if (!indented) this.inList = listItem
    const open = FENCE_OPEN.exec(line)
    if (open && !(open[1]![0] === '`' && line.slice(open[0].length).includes('`'))) {
      this.fence = { char: open[1]![0]!, length: open[1]!.length }
    }
  }
}
