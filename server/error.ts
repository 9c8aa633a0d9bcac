import type { H3Error, H3Event } from 'h3'

/**
 * API errors in the contract's shape, `{ status, statusText, message, data }`; pages keep Nuxt's
 * error page (the next handler). Unexpected failures are logged and answer a generic 500 that
 * leaks no internals.
 */
export default async function apiErrorHandler(error: H3Error, event: H3Event) {
  if (!event.path.startsWith('/api/') || event.handled) return
  const status = error.statusCode || 500
  // A 5xx we raised on purpose (503 shutting_down) carries its code; any other is unexpected.
  const unexpected = error.unhandled || (status >= 500 && !(error.data as { code?: string } | undefined)?.code)
  if (unexpected) console.error(`[flume] ${event.method} ${event.path} failed`, error.cause ?? error)
  const body = {
    status,
    statusText: unexpected ? 'Internal Server Error' : error.statusMessage || 'Error',
    message: unexpected ? 'Something went wrong on the server. Try again.' : error.message,
    data: unexpected ? { code: 'internal' } : ownData(error.data) ?? { code: codeFor(status) },
  }
  setResponseStatus(event, status, body.statusText)
  setResponseHeader(event, 'content-type', 'application/json')
  setResponseHeader(event, 'cache-control', 'no-store')
  return send(event, JSON.stringify(body))
}

/**
 * Our errors' `data` (it has a code); h3's and Nitro's own carry other things (a 404 for a path
 * no route matches has `{ path }`, the input echoed back), so they get a code instead.
 */
function ownData(data: unknown): { code: string } | undefined {
  return typeof (data as { code?: unknown } | undefined)?.code === 'string' ? data as { code: string } : undefined
}

/** Errors raised by h3 itself (bad JSON, 405, ...) carry no code of ours. */
function codeFor(status: number): string {
  if (status === 404) return 'not_found'
  if (status === 413) return 'too_large'
  if (status === 405) return 'method_not_allowed'
  return 'invalid_request'
}
