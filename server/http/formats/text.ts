import type { StreamFormat } from '../sse'
import type { RunFinal } from '../../generation/run'

export const TEXT_HEADERS = {
  'content-type': 'text/plain; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  'connection': 'keep-alive',
} as const

const isHighSurrogate = (code: number) => code >= 0xD800 && code <= 0xDBFF

/**
 * Text cut into whole characters for a UTF-8 body: offsets and merged chunks count UTF-16 code
 * units, so a piece may end between the two halves of a character outside the BMP (an emoji), and
 * a lone half would go out as U+FFFD. A trailing high half is held until the next piece brings its
 * partner; a half left alone (an offset that split a pair, a model that sent half a character) is
 * dropped. `held` is how many code units wait, so a format can number what it really sent.
 */
export function wholeCharacters() {
  let held = ''
  return {
    take(text: string): string {
      let out = held + text
      held = ''
      if (out && isHighSurrogate(out.charCodeAt(out.length - 1))) {
        held = out.slice(-1)
        out = out.slice(0, -1)
      }
      return out.isWellFormed() ? out : out.replace(/\p{Cs}/gu, '')
    },
    get held() {
      return held.length
    },
  }
}

/**
 * How the end of an answer reads in plain text: nothing after a finished answer, one marked line
 * after a stopped or failed one (docs/text.md). Always two line breaks first, so a script can cut
 * the answer at the last "\n\n[flume ".
 */
export function textEnding(final: RunFinal): string {
  if (final.status === 'error') {
    const code = final.error?.code ?? 'upstream_error'
    const message = (final.error?.message ?? 'The answer failed.').replace(/[\r\n]+/g, ' ')
    return `\n\n[flume error ${code}] ${message}\n`
  }
  if (final.status === 'stopped') return '\n\n[flume stopped] The answer was stopped before its end.\n'
  return ''
}

/**
 * The answer as plain text (docs/text.md), for curl, scripts and XHR progress events: its text as
 * it is written, then `textEnding`. No frames, so no heartbeat either: any byte would be text.
 * The model's reasoning is not part of it (docs/reasoning.md).
 * One format per response: it holds back half a character between two pieces.
 */
export function textFormat(): StreamFormat {
  const characters = wholeCharacters()
  return {
    headers: TEXT_HEADERS,
    open: '',
    delta: (_at, text) => characters.take(text),
    end: (_at, final) => textEnding(final),
  }
}
