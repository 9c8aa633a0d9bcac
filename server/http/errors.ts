import type { RequestErrorCode } from '#shared/codes'

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
}

/**
 * An h3 error with a stable machine-readable `data.code` (CONTRACT.md, Conventions); `extra` adds
 * documented fields beside it (the abuse limits' `retryAfter`).
 */
export function httpError(status: number, code: RequestErrorCode, message: string, extra?: Record<string, unknown>) {
  return createError({ status, statusText: STATUS_TEXT[status] ?? 'Error', message, data: { code, ...extra } })
}

export const notFound = () => httpError(404, 'not_found', 'No such chat or message.')
