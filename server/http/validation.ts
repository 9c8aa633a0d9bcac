import type { IncomingMessage } from 'node:http'
import type { H3Event } from 'h3'
import type { z } from 'zod'
import { MAX_CONTENT_LENGTH, formatBytes } from '#shared/schemas'

/** Bodies above this are refused (CONTRACT.md: 1 MB), counted as they arrive. */
export const MAX_BODY_BYTES = 1_000_000

const tooLarge = (limit = MAX_BODY_BYTES) => httpError(413, 'too_large', `The request body is larger than ${limit === MAX_BODY_BYTES ? '1 MB' : formatBytes(limit)}.`)

/**
 * Reads and validates a JSON body. Oversized bodies and content answer 413 `too_large`, a body
 * that is not `application/json` 415 `unsupported_media_type` (an HTML form cannot post JSON, so a
 * cross-site form post never reaches a route), anything malformed 400 `invalid_body`; never a 5xx.
 * `limit`: the body's bytes at most (1 MB, the contract's, unless a route documents another).
 */
export async function readBodyAs<T extends z.ZodType>(event: H3Event, schema: T, limit = MAX_BODY_BYTES): Promise<z.infer<T>> {
  const declared = Number(getRequestHeader(event, 'content-length'))
  if (declared > limit) throw tooLarge(limit)
  const raw = await readLimitedBody(event, limit)
  let json: unknown = {}
  if (raw.trim()) {
    const type = getRequestHeader(event, 'content-type') ?? ''
    if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
      throw httpError(415, 'unsupported_media_type', 'Send the body as JSON, with Content-Type: application/json.')
    }
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
  const unfit = unfitText(json)
  if (unfit) throw httpError(400, 'invalid_body', unfit)
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

// The bodies' text fields (any other key fails the strict schemas), and those that are one line
// (they end up in lists, tab titles and logs).
const TEXT_FIELDS = ['title', 'content', 'model', 'systemPrompt'] as const
const ONE_LINE = new Set<string>(['title', 'model'])
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001F\u007F]/

/**
 * Why a body's text cannot be stored as sent, or undefined. A NUL or a lone surrogate would not
 * come back byte for byte (UTF-8 has no lone surrogates, PostgreSQL text no NUL), and a line
 * break in a title is a header injection waiting for whoever puts it in one. Only the top-level
 * text fields are looked at: anything nested fails the schema anyway.
 */
function unfitText(json: unknown): string | undefined {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return undefined
  for (const key of TEXT_FIELDS) {
    const value = Object.hasOwn(json, key) ? (json as Record<string, unknown>)[key] : undefined
    if (typeof value !== 'string') continue
    if (value.includes('\u0000')) return `${key} must not contain NUL characters.`
    if (!value.isWellFormed()) return `${key} must be valid Unicode (no lone surrogates).`
    if (ONE_LINE.has(key) && CONTROL.test(value)) return `${key} must be one line, without control characters.`
  }
  return undefined
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map(i => (i.path.length ? `${i.path.join('.')}: ` : '') + i.message).join('; ')
}

/** The body as text, at most `limit` bytes (readLimitedBytes). */
async function readLimitedBody(event: H3Event, limit: number): Promise<string> {
  const bytes = await readLimitedBytes(event, limit, () => tooLarge(limit))
  try {
    return utf8.decode(bytes)
  }
  catch {
    throw httpError(400, 'invalid_body', 'The request body is not valid UTF-8.')
  }
}

/**
 * The body's bytes, at most `limit`. Counted while they arrive: a chunked body (no
 * Content-Length) over the limit is refused with `tooBig()` as soon as it crosses it, never
 * buffered whole.
 */
export async function readLimitedBytes(event: H3Event, limit: number, tooBig: () => Error): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let size = 0
  const take = (chunk: Uint8Array) => {
    size += chunk.byteLength
    if (size > limit) return false
    chunks.push(chunk)
    return true
  }
  const req = event.node?.req
  const stream = event.web?.request?.body ?? (req && !('body' in req) && !('__unenv__' in req) ? undefined : getRequestWebStream(event))
  try {
    if (stream) {
      const reader = stream.getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        if (!take(value)) {
          void reader.cancel().catch(() => {})
          throw tooBig()
        }
      }
    }
    else if (req && !req.readableEnded) {
      await new Promise<void>((resolve, reject) => {
        const settle = (error?: Error) => {
          req.off('data', onData).off('end', onEnd).off('error', onEnd).off('close', onClose)
          if (error) reject(error)
          else resolve()
        }
        const onData = (chunk: Buffer) => {
          if (take(chunk)) return
          dropTheRest(req, limit)
          settle(tooBig())
        }
        const onEnd = (error?: Error) => settle(error)
        const onClose = () => settle(req.complete ? undefined : new Error('The client went away mid-body.'))
        req.on('data', onData).once('end', onEnd).once('error', onEnd).once('close', onClose)
      })
    }
  }
  catch (error) {
    if ((error as { statusCode?: number }).statusCode === 413) throw error
    throw httpError(400, 'invalid_body', 'The request body could not be read.')
  }
  return Buffer.concat(chunks)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * After a body is refused mid-way, what the client still sends is read and dropped rather than
 * left unread: a socket closed on unread bytes is reset by the kernel, and a client still writing
 * its body then loses the 413 to EPIPE or ECONNRESET instead of reading it. The answer goes out
 * at once all the same, and the connection stays usable once the body ends. A client that sends
 * more than another `limit` (at least 1 MiB) past the refusal is cut off; one that stalls, by the
 * server's idle and request timeouts.
 */
function dropTheRest(req: IncomingMessage, limit: number) {
  const allowance = Math.max(limit, 1 << 20)
  let dropped = 0
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.byteLength
    if (dropped > allowance) req.socket.destroy()
  })
}
