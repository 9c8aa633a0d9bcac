import type { H3Event } from 'h3'
import type { IMAGE_MEDIA_TYPES, Attachment, AttachmentKind } from '#shared/schemas'
import { AttachmentSchema, MAX_ATTACHMENT_NAME, formatBytes } from '#shared/schemas'
import { platform } from '#flume/platform'
import { attachmentStore } from '../storage/attachments'
import type { AttachmentLimits } from '../utils/config'
import { MAX_BODY_BYTES } from './validation'

let warned = false

/**
 * The attachment limits in force: FLUME_ATTACHMENTS_* and FLUME_ATTACHMENT_*, with the per-file
 * bytes no higher than the platform can store (on Cloudflare, what fits in a D1 row). A file
 * over it is refused with 413 like any other, and GET /api/models says the lower figure.
 */
export function attachmentLimits(): AttachmentLimits {
  const limits = useFlumeConfig().attachments
  if (limits.bytes <= platform.maxAttachmentBytes) return limits
  if (!warned && process.env.FLUME_ATTACHMENT_MAX_BYTES) {
    warned = true
    console.warn(`[flume] FLUME_ATTACHMENT_MAX_BYTES=${limits.bytes} is above what ${platform.name} can store in one file: files over ${platform.maxAttachmentBytes} bytes are refused.`)
  }
  return { ...limits, bytes: platform.maxAttachmentBytes }
}

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

/** The refusals the attachment limits give, said alike by every route that checks them. */
export const attachmentRefusals = {
  off: () => httpError(415, 'unsupported_attachment', 'This server takes no attachments.'),
  fileTooLarge: (limits: AttachmentLimits) => httpError(413, 'attachment_too_large', `A file may have at most ${formatBytes(limits.bytes)}.`),
  tooMany: (limits: AttachmentLimits) => httpError(413, 'too_many_attachments', `A message may have at most ${limits.count} attachment${limits.count === 1 ? '' : 's'}.`),
}

/** Uploads not yet sent that one person may keep at once: this many messages' worth, and at least UNSENT_MIN files. */
const UNSENT_MESSAGES = 4
const UNSENT_MIN = 32

/**
 * Stores one uploaded file of `owner` (not yet sent with a question), as POST /api/attachments
 * does for its body: what it is comes from its bytes. 400 `invalid_body` when empty, 413
 * `attachment_too_large`, 415 `unsupported_attachment`, 429 when too many unsent uploads wait.
 * Nothing is stored for a refused file.
 */
export async function storeUpload(event: H3Event, owner: string, bytes: Uint8Array, name: string | undefined): Promise<Attachment> {
  const limits = attachmentLimits()
  if (!limits.kinds.size) throw attachmentRefusals.off()
  if (!bytes.byteLength) throw httpError(400, 'invalid_body', 'The file is empty.')
  if (bytes.byteLength > limits.bytes) throw attachmentRefusals.fileTooLarge(limits)
  const what = classify(bytes)
  if (!what || !limits.kinds.has(what.kind)) {
    const taken = [...limits.kinds].map(kind => (kind === 'image' ? 'images (PNG, JPEG, GIF, WebP)' : 'text files (UTF-8)')).join(' and ')
    throw httpError(415, 'unsupported_attachment', `This file cannot be attached: Flume takes ${taken}.`)
  }
  // Uploads cost storage before any question is sent: bounded per person (unsent ones go after a day).
  const unsent = await attachmentStore.unsent(owner)
  if (unsent.count >= Math.max(limits.count * UNSENT_MESSAGES, UNSENT_MIN) || unsent.bytes + bytes.byteLength > limits.totalBytes * UNSENT_MESSAGES) {
    setResponseHeader(event, 'retry-after', 60)
    throw httpError(429, 'rate_limited', 'Too many files are uploaded and not sent yet. Send or remove some first.', { retryAfter: 60 })
  }
  return AttachmentSchema.parse(await attachmentStore.create(owner, { id: newId(), ...what, name: cleanName(name, what.kind), bytes }))
}

/**
 * The attachments a question sends, checked against the limits (FLUME_ATTACHMENTS_*): each id one
 * of the person's uploads not sent yet (or, editing, one of that question's own files), in the
 * order given. 400 `invalid_body` for an id that is none of those; 413 `too_many_attachments`
 * (count) or `attachments_too_large` (total bytes).
 */
export async function attachmentsFor(owner: string, ids: string[] | undefined, editing?: string): Promise<Attachment[]> {
  if (!ids?.length) return []
  const limits = attachmentLimits()
  if (ids.length > limits.count) throw attachmentRefusals.tooMany(limits)
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

/**
 * The body an AI SDK question may have (docs/ai-sdk.md, Files): the contract's 1 MB, plus room for
 * a question's files as `data:` URLs (base64: 4/3 of their bytes) while attachments are on. What
 * `sendMessage({ files })` posts for a FileList then fits whenever the files are within the limits.
 */
export function sdkBodyLimit(): number {
  const limits = attachmentLimits()
  if (!limits.kinds.size || !limits.count) return MAX_BODY_BYTES
  const files = Math.min(limits.totalBytes, limits.count * limits.bytes)
  return MAX_BODY_BYTES + Math.ceil(files * 4 / 3) + limits.count * 256
}

const UPLOAD_PATH = /^\/api\/attachments\/([\w-]{1,64})$/

/**
 * The attachment ids of an AI SDK question's `file` parts (docs/ai-sdk.md, Files): a part whose url
 * is one of the person's uploads (`/api/attachments/:id`, relative or on this host) names it; a
 * `data:` URL is the file itself, stored here as an upload (`stored`: remove them if the question
 * is refused). Flume fetches no other address: 400 `invalid_body`.
 */
export async function sdkAttachmentIds(event: H3Event, owner: string, files: readonly { url: string, filename?: string }[]): Promise<{ ids: string[], stored: string[] }> {
  const limits = attachmentLimits()
  if (files.length > limits.count) throw attachmentRefusals.tooMany(limits)
  const ids: string[] = []
  const stored: string[] = []
  try {
    for (const file of files) {
      const data = file.url.startsWith('data:') ? dataUrlBytes(file.url) : undefined
      if (data) {
        const upload = await storeUpload(event, owner, data, file.filename)
        stored.push(upload.id)
        ids.push(upload.id)
        continue
      }
      const id = uploadIdOf(event, file.url)
      if (!id) throw httpError(400, 'invalid_body', 'A file part\'s url must be an upload of yours (POST /api/attachments) or a data: URL.')
      ids.push(id)
    }
  }
  catch (error) {
    await removeUploads(owner, stored)
    throw error
  }
  return { ids, stored }
}

/** Takes out uploads stored for a question that was then refused (best effort: unsent ones expire anyway). */
export async function removeUploads(owner: string, ids: readonly string[]): Promise<void> {
  await Promise.all(ids.map(id => attachmentStore.removeUnsent(owner, id).catch(() => false)))
}

/** The upload id of `/api/attachments/:id`, given relative or as an absolute URL of this host. */
function uploadIdOf(event: H3Event, url: string): string | undefined {
  let path = url
  if (!url.startsWith('/')) {
    const parsed = URL.canParse(url) ? new URL(url) : undefined
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.host !== getRequestHost(event, { xForwardedHost: true })) return undefined
    path = parsed.pathname
  }
  return UPLOAD_PATH.exec(path)?.[1]
}

/** The bytes of a `data:[<type>][;base64],<data>` URL; 400 when it is malformed. */
function dataUrlBytes(url: string): Uint8Array {
  const match = /^data:[^,]*?(;base64)?,/i.exec(url)
  if (!match) throw httpError(400, 'invalid_body', 'A file part\'s data: URL is malformed.')
  const data = url.slice(match[0].length)
  if (match[1]) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data.replace(/\s/g, ''))) throw httpError(400, 'invalid_body', 'A file part\'s data: URL is not valid base64.')
    return Buffer.from(data, 'base64')
  }
  // Percent-escapes are bytes (an image may be sent this way too); the rest is the text itself.
  return Buffer.concat(data.split(/(%[\da-f]{2})/i).map(piece => (/^%[\da-f]{2}$/i.test(piece) ? Buffer.from([Number.parseInt(piece.slice(1), 16)]) : Buffer.from(piece))))
}
