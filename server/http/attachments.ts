import type { H3Event } from 'h3'
import type { IMAGE_MEDIA_TYPES, Attachment, AttachmentKind } from '#shared/schemas'
import { MAX_ATTACHMENT_NAME, formatBytes } from '#shared/schemas'
import { attachmentStore } from '../storage/attachments'

/**
 * What a file is, by its bytes (docs/attachments.md): PNG, JPEG, GIF and WebP by their signatures;
 * anything else that is valid UTF-8 without NUL bytes is text (code, markdown, CSV, JSON, SVG and
 * HTML too: they are read as text and served back as text, never run). Undefined: refused.
 */
export function classify(bytes: Uint8Array): { kind: AttachmentKind, mediaType: string } | undefined {
  const starts = (...signature: number[]) => signature.every((byte, i) => bytes[i] === byte)
  const image = (mediaType: (typeof IMAGE_MEDIA_TYPES)[number]) => ({ kind: 'image' as const, mediaType })
  if (starts(0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A)) return image('image/png')
  if (starts(0xFF, 0xD8, 0xFF)) return image('image/jpeg')
  if (starts(0x47, 0x49, 0x46, 0x38) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return image('image/gif')
  if (starts(0x52, 0x49, 0x46, 0x46) && bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50) return image('image/webp')
  if (bytes.includes(0)) return undefined
  try {
    utf8.decode(bytes)
  }
  catch {
    return undefined
  }
  return { kind: 'text', mediaType: 'text/plain' }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

// eslint-disable-next-line no-control-regex -- control characters are what it removes
const UNSAFE_NAME = /[\u0000-\u001F\u007F"\\/:*?<>|]+/g

/** A file name safe to show and to put in a header: one line, no path, at most MAX_ATTACHMENT_NAME characters (extension kept). */
export function cleanName(raw: string | undefined, kind: AttachmentKind): string {
  const name = (raw ?? '').replace(UNSAFE_NAME, '_').replace(/^[.\s]+/, '').trim()
  if (!name || !name.isWellFormed()) return kind === 'image' ? 'image' : 'file.txt'
  if (name.length <= MAX_ATTACHMENT_NAME) return name
  const dot = name.lastIndexOf('.')
  const extension = dot > 0 && name.length - dot <= 12 ? name.slice(dot) : ''
  return name.slice(0, MAX_ATTACHMENT_NAME - extension.length) + extension
}

/**
 * The attachments a question sends, checked against the limits (FLUME_ATTACHMENTS_*): each id one
 * of the person's uploads not sent yet (or, editing, one of that question's own files), in the
 * order given. 400 `invalid_body` for an id that is none of those; 413 `too_many_attachments`
 * (count) or `attachments_too_large` (total bytes).
 */
export async function attachmentsFor(owner: string, ids: string[] | undefined, editing?: string): Promise<Attachment[]> {
  if (!ids?.length) return []
  const limits = useFlumeConfig().attachments
  if (ids.length > limits.count) {
    throw httpError(413, 'too_many_attachments', `A message may have at most ${limits.count} attachment${limits.count === 1 ? '' : 's'}.`)
  }
  if (new Set(ids).size !== ids.length) throw httpError(400, 'invalid_body', 'attachments: the same file is listed twice.')
  const found = new Map((await attachmentStore.usable(owner, ids, editing)).map(file => [file.id, file]))
  const missing = ids.find(id => !found.has(id))
  if (missing) throw httpError(400, 'invalid_body', `attachments: ${missing} is not one of your uploads, or was already sent with another message.`)
  const files = ids.map(id => found.get(id)!)
  const total = files.reduce((sum, file) => sum + file.size, 0)
  if (total > limits.totalBytes) {
    throw httpError(413, 'attachments_too_large', `A message's attachments may have ${formatBytes(limits.totalBytes)} together; these have ${formatBytes(total)}.`)
  }
  return files
}

/** `?name=` of an upload, as given (cleaned by cleanName). */
export function uploadName(event: H3Event): string | undefined {
  const raw = getQuery(event).name
  return typeof raw === 'string' ? raw : undefined
}
