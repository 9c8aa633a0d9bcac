/**
 * Every machine-readable code the server sends (CONTRACT.md, "Codes"): in error answers'
 * `data.code`, and in stream `error` frames and `Message.error.code`. Clients match on these,
 * never on status numbers alone.
 */
export const REQUEST_ERROR_CODES = [
  'invalid_body', 'invalid_offset', 'invalid_query', 'invalid_request', 'too_large', 'unsupported_media_type', 'not_found',
  'forbidden_origin', 'unknown_model', 'not_retryable', 'not_editable', 'not_continuable',
  'method_not_allowed', 'rate_limited', 'quota_exceeded', 'shutting_down', 'unavailable', 'internal',
  'too_many_attachments', 'attachment_too_large', 'attachments_too_large', 'unsupported_attachment',
] as const

export const ANSWER_ERROR_CODES = [
  'upstream_auth', 'upstream_rate_limited', 'upstream_unavailable', 'upstream_timeout', 'upstream_error', 'upstream_no_vision',
  'interrupted', 'storage_unavailable',
] as const

export type RequestErrorCode = typeof REQUEST_ERROR_CODES[number]
export type AnswerErrorCode = typeof ANSWER_ERROR_CODES[number]
export type UpstreamErrorCode = Exclude<AnswerErrorCode, 'interrupted' | 'storage_unavailable'>
export type ErrorCode = RequestErrorCode | AnswerErrorCode

/** The code of an error answer from the API (an ofetch/$fetch error), if it has one. */
export function errorCodeOf(error: unknown): ErrorCode | undefined {
  const data = (error as { data?: { data?: { code?: unknown } } } | null)?.data?.data
  return typeof data?.code === 'string' ? data.code as ErrorCode : undefined
}
