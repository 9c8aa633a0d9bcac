/**
 * The KaTeX part of math rendering. Only ever loaded through a dynamic import (see math.ts):
 * KaTeX, its stylesheet and its fonts stay out of the page until an answer holds math.
 */
import katex from 'katex'
import 'katex/dist/katex.min.css'

/**
 * Model output is untrusted: no command that makes links, classes, ids or styles (`trust`),
 * bounded sizes and macro expansion (a `\def` loop or a huge `\rule` cannot hang or flood
 * the page), and a bad formula becomes KaTeX's error text instead of an exception.
 */
const OPTIONS = {
  trust: false,
  throwOnError: false,
  strict: 'ignore',
  maxSize: 20,
  maxExpand: 500,
  output: 'htmlAndMathml',
  // Untrusted commands and parse errors show in the theme's error colour (KaTeX writes it inline).
  errorColor: 'var(--danger)',
} as const

/** KaTeX's HTML for `tex`; KaTeX escapes the source, so the result holds no markup from it. */
export function katexRender(tex: string, displayMode: boolean): string {
  return katex.renderToString(tex, { ...OPTIONS, displayMode })
}
