/**
 * Files attached to a question (docs/attachments.md): what client and server agree on. Free of
 * zod, so the browser bundle can import it; `schemas.ts` builds the validators on top.
 */

/** What a file is taken as, decided by its bytes, never by its name or the type the browser gave. */
export type AttachmentKind = 'image' | 'text'

/** The image formats models take (OpenAI's `image_url`): recognised by their first bytes. */
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const

/** The limits' defaults (FLUME_ATTACHMENTS_MAX_COUNT, FLUME_ATTACHMENT_MAX_BYTES, FLUME_ATTACHMENTS_MAX_TOTAL_BYTES). */
export const ATTACHMENT_LIMITS = { count: 8, bytes: 8 * 1024 * 1024, totalBytes: 20 * 1024 * 1024 } as const

/** Longest file name kept (longer ones are cut, keeping the extension). */
export const MAX_ATTACHMENT_NAME = 200

/**
 * The longest side an image is sent at: the browser scales larger ones down before uploading. Models
 * see no more (OpenAI scales images to fit 2048 x 2048, then their short side to 768).
 */
export const IMAGE_MAX_SIDE = 2048

/** What one image counts for in the history budget (FLUME_HISTORY_CHARS), in characters. */
export const IMAGE_HISTORY_CHARS = 3000

/** Where an attachment is read back (its owner only). */
export function attachmentUrl(id: string): string {
  return `/api/attachments/${encodeURIComponent(id)}`
}

/** A size as people read it, the same on server and client: `8 MB`, `340 KB` (at least 1 KB). */
export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024)
  return mib >= 1 ? `${Math.round(mib * 10) / 10} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`
}
