/**
 * The shiki part of code highlighting. Only ever loaded through a dynamic import (see
 * highlight.ts), so shiki, its regex engine, themes and grammars stay out of the page's
 * main JS and are fetched once a code block appears. Each grammar is its own chunk.
 */
import { createHighlighterCore, type HighlighterCore } from 'shiki/core'
import { createJavaScriptRegexEngine } from 'shiki/engine/javascript'
import { bundledLanguages, bundledLanguagesInfo } from 'shiki/langs'
import { bundledThemes } from 'shiki/themes'

const LIGHT_THEME = 'github-light'
const DARK_THEME = 'github-dark'

let creating: Promise<HighlighterCore> | undefined
let ready: HighlighterCore | undefined

async function getHighlighter(): Promise<HighlighterCore> {
  creating ??= createHighlighterCore({
    themes: [bundledThemes[LIGHT_THEME](), bundledThemes[DARK_THEME]()],
    langs: [],
    // Forgiving: a grammar regex the JS engine cannot translate matches nothing instead of throwing.
    engine: createJavaScriptRegexEngine({ forgiving: true }),
  })
  ready = await creating
  return ready
}

/** The shiki id of a fence language (`py` → `python`), or null when shiki has no such grammar. */
function grammarId(lang: string): string | null {
  const name = lang.toLowerCase()
  const info = bundledLanguagesInfo.find(l => l.id === name || l.aliases?.includes(name))
  return info ? info.id : null
}

/** Loads the grammar for `lang`; resolves to its shiki id, or null for an unknown language. */
export async function shikiLoadLanguage(lang: string): Promise<string | null> {
  const id = grammarId(lang)
  if (!id) return null
  // The grammar is fetched while the highlighter and its themes load, not after.
  const [core, grammar] = await Promise.all([getHighlighter(), bundledLanguages[id as keyof typeof bundledLanguages]()])
  if (!core.getLoadedLanguages().includes(id)) await core.loadLanguage(grammar)
  return id
}

/**
 * Highlights `code` with a grammar loaded before. The colours of both themes are CSS
 * variables (`--shiki-light`, `--shiki-dark`) on each token; the page's CSS picks one.
 * shiki escapes the code: the result holds no markup from `code`.
 */
export function shikiRender(code: string, id: string, lang: string): string | undefined {
  if (!ready) return undefined
  return ready.codeToHtml(code, {
    lang: id,
    themes: { light: LIGHT_THEME, dark: DARK_THEME },
    defaultColor: false,
    transformers: [{
      code(node) {
        this.addClassToHast(node, `language-${lang}`)
      },
    }],
  })
}
