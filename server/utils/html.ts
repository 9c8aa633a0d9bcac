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
