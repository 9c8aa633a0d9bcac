import { streamUrlFor } from '#shared/schemas'
import type { RunFinal } from '../generation/run'
import { htmxEnding } from '../http/formats/htmx'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;', '\r': '&#13;' }

/**
 * Text made safe to put in HTML, as text and in quoted attributes. A carriage return becomes
 * `&#13;`: SSE takes a raw one for a line break (and drops it), HTML keeps the reference as it is.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'\r]/g, c => ESCAPES[c]!)
}

/** An HTML template tag: every interpolated value is escaped unless it is already `Html`. */
export class Html {
  constructor(readonly value: string) {}
  toString() {
    return this.value
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!
  })
  return new Html(out)
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === undefined || value === null || value === false) return ''
  return escapeHtml(String(value))
}

// The /htmx page (docs/htmx.md): its shell and the fragments its routes send.

/** htmx without eval or inline styles (both refused by the page's CSP), and no copies of pages in localStorage. */
const HTMX_CONFIG = {
  allowEval: false,
  allowScriptTags: false,
  includeIndicatorStyles: false,
  historyCacheSize: 0,
  refreshOnHistoryMiss: true,
  selfRequestsOnly: true,
  // Error answers (a 413, a 429) are HTML fragments too: shown where the answer would go.
  responseHandling: [{ code: '204', swap: false }, { code: '[2-5]..', swap: true }],
}

/** The page's headers: its own CSP (no nonce, nothing inline), and what docs/security.md gives every page. */
export const HTMX_PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': [
    'default-src \'none\'', 'script-src \'self\'', 'script-src-attr \'none\'', 'style-src \'self\'',
    'style-src-attr \'none\'', 'img-src \'self\'', 'connect-src \'self\'', 'base-uri \'none\'',
    'form-action \'self\'', 'frame-ancestors \'none\'', 'object-src \'none\'',
  ].join('; '),
  'permissions-policy': ['camera', 'microphone', 'geolocation', 'display-capture', 'payment', 'usb', 'serial', 'hid', 'midi',
    'accelerometer', 'gyroscope', 'magnetometer', 'publickey-credentials-get', 'fullscreen', 'browsing-topics'].map(f => `${f}=()`).join(', '),
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-embedder-policy': 'credentialless',
  'origin-agent-cluster': '?1',
  'cache-control': 'private, no-store',
} as const

export function htmxPage(body: Html, title = 'Flume (htmx)'): string {
  return `<!doctype html>${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${JSON.stringify(HTMX_CONFIG)}">
<title>${title}</title>
<link rel="stylesheet" href="/htmx/page.css">
<script src="/htmx/htmx.min.js"></script>
<script src="/htmx/sse.min.js"></script>
<script src="/htmx/resume.js"></script>
</head>
<body>
${body}
</body>
</html>
`}`
}

/** The composer: a new chat without `chatId`, the next question of that chat with it. */
export function htmxComposer(chatId?: string, oob = false): Html {
  return html`<form id="composer" hx-post="/htmx/messages" hx-target="#messages" hx-swap="beforeend"${oob ? new Html(' hx-swap-oob="true"') : ''}>
<textarea name="content" aria-label="Message" rows="3" required></textarea>
${chatId ? html`<input type="hidden" name="chat" value="${chatId}">` : ''}
<button type="submit">Send</button>
</form>`
}

/**
 * One message. An answer still being written follows its stream from where the stored text ends:
 * no gap, no duplicate (a reload mid-answer resumes). Its text is escaped here and in every event.
 */
export function htmxMessage(message: { id: string, chatId: string, role: string, status: string, content: string, error?: { code: string, message: string } }): Html {
  const running = message.role === 'assistant' && (message.status === 'pending' || message.status === 'streaming')
  // A saved text may end between the halves of an emoji: that half comes with the stream.
  let text = message.content
  if (running && /[\uD800-\uDBFF]$/.test(text)) text = text.slice(0, -1)
  const follow = running
    ? html` hx-ext="sse" sse-connect="${`${streamUrlFor(message.chatId, message.id)}?format=htmx&offset=${text.length}`}" sse-swap="message" hx-swap="beforeend" sse-close="done"`
    : ''
  const ending = message.role === 'assistant' && !running
    ? new Html(htmxEnding({ status: message.status as RunFinal['status'], ...(message.error ? { error: message.error } : {}) }))
    : ''
  return html`<article id="m-${message.id}" data-role="${message.role}" data-status="${message.status}">
<div class="content"${follow}>${text}${ending}</div>
</article>
`
}

/** An error where the answer would go: for the routes' 4xx/5xx answers. */
export function htmxError(message: string): Html {
  return html`<p class="flume-error" role="alert">${message}</p>
`
}
