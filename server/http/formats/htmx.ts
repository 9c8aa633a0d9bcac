import { PING, RETRY, SSE_HEADERS, type StreamFormat } from '../sse'
import type { RunFinal } from '../../generation/run'
import { escapeHtml } from '../../utils/html'
import { wholeCharacters } from './text'

/**
 * One SSE event. A line break in `data` is the standard's job: each line gets its own `data:` and
 * the browser joins them with "\n" (escapeHtml already turned every "\r" into a reference).
 */
function event(id: number, data: string, type?: string): string {
  return `id: ${id}\n${type ? `event: ${type}\n` : ''}data: ${data.replaceAll('\n', '\ndata: ')}\n\n`
}

/** What a stopped or failed answer shows at its end; a finished one shows nothing more. */
export function htmxEnding(final: RunFinal): string {
  if (final.status === 'error') {
    const code = escapeHtml(final.error?.code ?? 'upstream_error')
    const message = escapeHtml(final.error?.message ?? 'The answer failed.')
    return `<p class="flume-error" role="alert" data-code="${code}">${message}</p>`
  }
  if (final.status === 'stopped') return '<p class="flume-stopped" role="status">Stopped.</p>'
  return ''
}

/**
 * The answer for htmx's SSE extension (docs/htmx.md): `message` events whose data is the new text
 * as an HTML fragment (escaped: the model's text stays text), then a `done` event whose data is
 * the final status, for `sse-swap="message" hx-swap="beforeend" sse-close="done"`. Ids are offsets
 * as in the contract's stream, so the browser's own reconnect resumes with Last-Event-ID. The
 * model's reasoning is not sent (docs/reasoning.md): the page shows answers only.
 * One format per response: it holds back half a character between two pieces, and numbers what it
 * sent.
 */
export function htmxFormat(): StreamFormat {
  const characters = wholeCharacters()
  return {
    headers: SSE_HEADERS,
    open: RETRY,
    delta({ answer }, text) {
      const whole = characters.take(text)
      return whole ? event(answer - characters.held, escapeHtml(whole)) : ''
    },
    end({ answer }, final) {
      const ending = htmxEnding(final)
      return (ending ? event(answer, ending) : '') + event(answer, final.status, 'done')
    },
    ping: PING,
  }
}
