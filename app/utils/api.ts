import type { MessageError } from '#shared/schemas'

/** The `{ code, message }` of a failed `$fetch` call (h3 error body, CONTRACT.md). */
export function apiError(err: unknown, fallback = 'Something went wrong. Please try again.'): MessageError {
  const body = (err as { data?: { message?: unknown, data?: { code?: unknown } } } | null)?.data
  const code = typeof body?.data?.code === 'string' ? body.data.code : 'request_failed'
  const message = typeof body?.message === 'string' && body.message ? body.message : fallback
  return { code, message }
}
