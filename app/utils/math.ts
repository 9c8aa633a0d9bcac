/**
 * Math in answers, as the markdown renderer sees it: a markdown-it plugin that finds TeX
 * (`$…$`, `\(…\)` inline; `$$…$$`, `\[…\]` display) and renders it with KaTeX once KaTeX is
 * loaded. Until then a formula shows as its TeX source and the render reports MATH as awaited,
 * so the caller loads KaTeX (math-katex.ts, its own lazy chunk with its CSS and fonts) and
 * renders the waiting blocks once more. Nothing here imports KaTeX statically.
 */
import type MarkdownIt from 'markdown-it'
import type StateBlock from 'markdown-it/lib/rules_block/state_block.mjs'
import type StateInline from 'markdown-it/lib/rules_inline/state_inline.mjs'

type KatexModule = typeof import('./math-katex')
/** nuxt.config's vite define: false on Cloudflare, whose worker typesets nothing (no KaTeX in it). */
declare const __FLUME_SSR_RICH__: boolean

/** What a render waits for when it met math before KaTeX was loaded (never a fence language: it has a space). */
export const MATH = 'tex math'

let katexModule: KatexModule | undefined
let katexLoading: Promise<KatexModule> | undefined

/**
 * A least-recently-used cache bounded by size: the sum of its keys' and values' lengths
 * (JavaScript string length). On the server one cache serves every visitor, so a bound by count
 * alone would let a few huge entries (a long code block, a formula KaTeX blows up) hold any
 * amount of memory. An entry larger than the bound is not kept.
 */
export class SizedCache<V extends string | null> {
  private readonly entries = new Map<string, V>()
  private used = 0

  constructor(readonly maxSize: number) {}

  /** Sum of the lengths of every key and value held. */
  get size(): number {
    return this.used
  }

  get count(): number {
    return this.entries.size
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key)
    if (value === undefined) return undefined
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(key)
    this.entries.set(key, value)
    return value
  }

  set(key: string, value: V): void {
    const old = this.entries.get(key)
    if (old !== undefined) {
      this.entries.delete(key)
      this.used -= sizeOf(key, old)
    }
    const size = sizeOf(key, value)
    if (size > this.maxSize) return
    this.entries.set(key, value)
    this.used += size
    for (const [oldest, held] of this.entries) {
      if (this.used <= this.maxSize) break
      this.entries.delete(oldest)
      this.used -= sizeOf(oldest, held)
    }
  }
}

function sizeOf(key: string, value: string | null): number {
  return key.length + (value?.length ?? 0)
}

/** Each cache of rendered answers (formulas here, code in highlight.ts) holds about this much text at most. */
export const RENDER_CACHE_SIZE = 8 * 1024 * 1024

/**
 * Recently typeset formulas (null: KaTeX failed on it): a formula in a growing block is not
 * typeset again on each update, however many the block holds.
 */
const cache = new SizedCache<string | null>(RENDER_CACHE_SIZE)

/** True while KaTeX is not loaded. */
export function mathPending(): boolean {
  return !katexModule
}

/** Loads KaTeX; resolves to true when math became renderable by this call. */
export async function loadMath(): Promise<boolean> {
  if (katexModule) return false
  katexLoading ??= import.meta.server && !__FLUME_SSR_RICH__
    ? Promise.reject(new Error('no math on this server'))
    : import('./math-katex')
  try {
    katexModule = await katexLoading
    return true
  }
  catch {
    // The chunk could not be fetched (offline?): the next answer with math tries again; this
    // one keeps its formulas as TeX source.
    katexLoading = undefined
    return false
  }
}

interface MathEnv {
  waiting?: Set<string>
  /** False while the text rendered is the growing end of an answer. */
  complete?: boolean
  source?: string
}

function isSpace(ch: string | undefined): boolean {
  return ch === undefined || /\s/.test(ch)
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9'
}

/** Index of `close` in `src` from `from` (before `max`), skipping backslash escapes; -1 if none. */
function findClose(src: string, from: number, max: number, close: string): number {
  for (let i = from; i < max; i++) {
    if (src.startsWith(close, i) && i + close.length <= max) return i
    if (src[i] === '\\') i++
  }
  return -1
}

/**
 * While an answer streams: whether `pos` is inside a code span whose closing backticks have not
 * arrived yet (`$x$` in it must not flash as math and load KaTeX). Backtick runs pair up by
 * length, as in markdown; finished text needs no guess.
 */
function openCodeSpan(src: string, pos: number, env: MathEnv | undefined): boolean {
  if (env?.complete !== false) return false
  const runs = /`+/g
  let open: string | null = null
  for (let m = runs.exec(src); m && m.index < pos; m = runs.exec(src)) {
    if (open === null) open = m[0]
    else if (m[0].length === open.length) open = null
  }
  return open !== null && !src.slice(pos).includes(open)
}

function pushInline(state: StateInline, silent: boolean, tex: string, open: string, close: string, display: boolean, end: number) {
  if (!silent) {
    const token = state.push('math_inline', 'math', 0)
    token.content = tex
    token.markup = open
    token.info = close
    token.meta = { display }
  }
  state.pos = end
  return true
}

/**
 * Inline math. `$…$` follows the usual rules so that prices stay text: no space after the
 * opening `$`, none before the closing one, the closing `$` not followed by a digit, all on one
 * line, and the first `$` after the opening one must close it ("costs $5 and $10" is text).
 * A backtick ends a candidate: code spans bind tighter than math.
 */
function mathInline(state: StateInline, silent: boolean): boolean {
  const { src, pos, posMax: max } = state
  const ch = src[pos]
  if (ch === '\\') {
    const next = src[pos + 1]
    if (next !== '(' && next !== '[') return false
    const close = next === '(' ? '\\)' : '\\]'
    const end = findClose(src, pos + 2, max, close)
    if (end === -1) return false
    const tex = src.slice(pos + 2, end)
    if (!tex.trim() || tex.includes('`')) return false
    return pushInline(state, silent, tex, `\\${next}`, close, next === '[', end + 2)
  }
  if (ch !== '$') return false
  if (src[pos + 1] === '$') {
    const end = findClose(src, pos + 2, max, '$$')
    const tex = end === -1 ? '' : src.slice(pos + 2, end)
    if (end !== -1 && tex.trim() && !tex.includes('`')) return pushInline(state, silent, tex, '$$', '$$', true, end + 2)
    // An unclosed `$$` is text, and its second `$` does not open inline math.
    if (!silent) state.pending += '$$'
    state.pos += 2
    return true
  }
  if (isSpace(src[pos + 1]) || openCodeSpan(src, pos, state.env as MathEnv | undefined)) return false
  for (let i = pos + 1; i < max; i++) {
    const c = src[i]
    if (c === '\\') {
      i++
      continue
    }
    if (c === '\n' || c === '`') return false
    if (c !== '$') continue
    if (isSpace(src[i - 1]) || isDigit(src[i + 1])) return false
    // A `$` that ends a still-growing text may yet be followed by a digit ("$20-$" → "$20-$30").
    if (i + 1 === max && (state.env as MathEnv | undefined)?.complete === false && state.env.source?.trimEnd().endsWith(src.slice(pos, max))) return false
    return pushInline(state, silent, src.slice(pos + 1, i), '$', '$', false, i + 1)
  }
  return false
}

/**
 * Display math on its own lines: `$$` or `\[` opens it at the start of a line, and a line
 * ending with `$$` or `\]` closes it (the same line for a one-line formula). A blank line
 * before the closing delimiter means it is not math (yet): a streaming answer shows the
 * source until the closing line arrives, and an unclosed `$$` never swallows what follows.
 */
function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  if (state.sCount[startLine]! - state.blkIndent >= 4) return false
  const src = state.src
  const start = state.bMarks[startLine]! + state.tShift[startLine]!
  const open = src.startsWith('$$', start) ? '$$' : src.startsWith('\\[', start) ? '\\[' : null
  if (!open) return false
  const close = open === '$$' ? '$$' : '\\]'
  const closes = (text: string) => text.endsWith(close) && text[text.length - close.length - 1] !== '\\'
  const first = src.slice(start + 2, state.eMarks[startLine]).trimEnd()
  const lines: string[] = []
  let line = startLine
  if (first.length >= close.length && closes(first)) {
    lines.push(first.slice(0, -close.length))
  }
  else {
    lines.push(first)
    let found = false
    for (line = startLine + 1; line < endLine; line++) {
      if (state.isEmpty(line) || state.sCount[line]! < state.blkIndent) return false
      const text = src.slice(state.bMarks[line]! + state.tShift[line]!, state.eMarks[line]).trimEnd()
      if (closes(text)) {
        lines.push(text.slice(0, -close.length))
        found = true
        break
      }
      lines.push(text)
    }
    if (!found) return false
  }
  const tex = lines.join('\n')
  if (!tex.trim()) return false
  if (silent) return true
  const token = state.push('math_block', 'math', 0)
  token.block = true
  token.content = tex
  token.markup = open
  token.info = close
  token.map = [startLine, line + 1]
  state.line = line + 1
  return true
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** KaTeX's HTML for a formula, or undefined while KaTeX is not loaded (or when it failed on it). */
function typeset(tex: string, display: boolean): string | undefined {
  if (!katexModule) return undefined
  const key = `${display ? 'D' : 'I'}${tex}`
  const hit = cache.get(key)
  if (hit !== undefined) return hit ?? undefined
  let html: string | null
  try {
    html = katexModule.katexRender(tex, display)
  }
  catch {
    // throwOnError is off, so this is KaTeX failing in some other way: leave the source.
    html = null
  }
  cache.set(key, html)
  return html ?? undefined
}

function renderFormula(tex: string, open: string, close: string, display: boolean, block: boolean, env: MathEnv | undefined): string {
  const html = typeset(tex, display)
  if (html === undefined && mathPending()) env?.waiting?.add(MATH)
  const body = html ?? escapeHtml(open + tex + close)
  const cls = html === undefined ? ' math-source' : ''
  return block
    ? `<div class="math-display${cls}">${body}</div>\n`
    : `<span class="math-inline${cls}">${body}</span>`
}

/** Adds math to a markdown-it instance (see the rules above for the syntax). */
export function mathPlugin(md: MarkdownIt): void {
  // Before `escape`, which would otherwise turn `\(` into `(`.
  md.inline.ruler.before('escape', 'math_inline', mathInline)
  md.block.ruler.before('fence', 'math_block', mathBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] })
  md.renderer.rules.math_inline = (tokens, idx, _options, env: MathEnv | undefined) => {
    const token = tokens[idx]!
    return renderFormula(token.content, token.markup, token.info, !!token.meta?.display, false, env)
  }
  md.renderer.rules.math_block = (tokens, idx, _options, env: MathEnv | undefined) => {
    const token = tokens[idx]!
    return renderFormula(token.content, token.markup, token.info, true, true, env)
  }
}
