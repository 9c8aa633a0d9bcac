/**
 * Code highlighting as the markdown renderer sees it: synchronous look-ups of what is
 * already loaded, and a loader that fetches shiki (highlight-shiki.ts, its own lazy chunks)
 * the first time an answer holds a code block. Nothing here imports shiki statically.
 */
import { RENDER_CACHE_SIZE, SizedCache } from './math'

type ShikiModule = typeof import('./highlight-shiki')
/** nuxt.config's vite define: false on Cloudflare, whose worker highlights nothing (no shiki in it). */
declare const __FLUME_SSR_RICH__: boolean

let shiki: ShikiModule | undefined
let shikiLoading: Promise<ShikiModule> | undefined
/** Fence language (lower case) → shiki grammar id, for the languages loaded so far. */
const grammars = new Map<string, string>()
/** Fence languages shiki has no grammar for (or whose grammar failed to load): stay plain. */
const plainLanguages = new Set<string>()
const loadingLanguages = new Map<string, Promise<void>>()

/** Recently highlighted snippets: a finished code block in a growing tail is not re-tokenised. */
const cache = new SizedCache<string>(RENDER_CACHE_SIZE)

function key(lang: string) {
  return lang.toLowerCase()
}

/** Highlighted HTML for `code`, or undefined when its grammar is not loaded (or unknown). */
export function highlightCode(code: string, lang: string): string | undefined {
  const id = grammars.get(key(lang))
  if (!id || !shiki) return undefined
  const cacheKey = `${id}\u0000${lang}\u0000${code}`
  const hit = cache.get(cacheKey)
  if (hit !== undefined) return hit
  const html = shiki.shikiRender(code, id, lang)
  if (html === undefined) return undefined
  cache.set(cacheKey, html)
  return html
}

/** True while highlighting `lang` is still possible but not loaded yet. */
export function highlightPending(lang: string): boolean {
  const k = key(lang)
  return !grammars.has(k) && !plainLanguages.has(k)
}

/**
 * Loads shiki and the grammars of `langs` (unknown ones are remembered as plain).
 * Resolves to true when something became highlightable.
 */
export async function loadHighlighting(langs: Iterable<string>): Promise<boolean> {
  const wanted = [...new Set([...langs].map(key))].filter(highlightPending)
  if (!wanted.length) return false
  shikiLoading ??= import.meta.server && !__FLUME_SSR_RICH__
    ? Promise.reject(new Error('no highlighting on this server'))
    : import('./highlight-shiki')
  try {
    shiki = await shikiLoading
  }
  catch {
    // The chunk could not be fetched (offline?): try again with the next code block.
    shikiLoading = undefined
    return false
  }
  const loaded = shiki
  await Promise.all(wanted.map((lang) => {
    let pending = loadingLanguages.get(lang)
    if (!pending) {
      pending = loaded.shikiLoadLanguage(lang).then(
        (id) => {
          if (id) grammars.set(lang, id)
          else plainLanguages.add(lang)
        },
        () => {
          plainLanguages.add(lang)
        },
      ).finally(() => loadingLanguages.delete(lang))
      loadingLanguages.set(lang, pending)
    }
    return pending
  }))
  return wanted.some(lang => grammars.has(lang))
}
