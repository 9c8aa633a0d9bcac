import type { H3Event } from 'h3'
import type { z } from 'zod'
import { MAX_CONTENT_LENGTH } from '#shared/schemas'

/** Bodies above this are refused before they are read (CONTRACT.md: 1 MB). */
export const MAX_BODY_BYTES = 1_000_000

/**
 * Reads and validates a JSON body. Oversized bodies and content answer 413 `too_large`,
 * anything malformed 400 `invalid_body`; never a 5xx.
 */
export async function readBodyAs<T extends z.ZodType>(event: H3Event, schema: T): Promise<z.infer<T>> {
  const declared = Number(getRequestHeader(event, 'content-length'))
  if (declared > MAX_BODY_BYTES) throw httpError(413, 'too_large', 'The request body is larger than 1 MB.')
  let raw: string | undefined
  try {
    raw = await readRawBody(event, 'utf8')
  }
  catch {
    throw httpError(400, 'invalid_body', 'The request body could not be read.')
  }
  if (raw && raw.length > MAX_BODY_BYTES) throw httpError(413, 'too_large', 'The request body is larger than 1 MB.')
  let json: unknown = {}
  if (raw && raw.trim()) {
    try {
      json = JSON.parse(raw)
    }
    catch {
      throw httpError(400, 'invalid_body', 'The request body is not valid JSON.')
    }
  }
  const content = (json as { content?: unknown } | null)?.content
  if (typeof content === 'string' && content.length > MAX_CONTENT_LENGTH) {
    throw httpError(413, 'too_large', `content is longer than ${MAX_CONTENT_LENGTH} characters.`)
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw httpError(400, 'invalid_body', describeIssues(parsed.error))
  return parsed.data
}

export function paramsAs<T extends z.ZodType>(event: H3Event, schema: T): z.infer<T> {
  const parsed = schema.safeParse(getRouterParams(event, { decode: true }))
  // A malformed id cannot name anything this identity owns.
  if (!parsed.success) throw notFound()
  return parsed.data
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map(i => (i.path.length ? `${i.path.join('.')}: ` : '') + i.message).join('; ')
}
