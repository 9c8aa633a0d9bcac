import { AttachmentSchema, formatBytes, type Attachment } from '#shared/schemas'
import { attachmentStore } from '../../storage/attachments'

/** Uploads not yet sent that one person may keep at once: this many messages' worth, and at least UNSENT_MIN files. */
const UNSENT_MESSAGES = 4
const UNSENT_MIN = 32

/**
 * Uploads one file for a question (docs/attachments.md): the body is the file's bytes, `?name=` its
 * name. What it is comes from its bytes, not its name or Content-Type: an image (PNG, JPEG, GIF,
 * WebP) or UTF-8 text. 201 with the attachment; 413 `attachment_too_large`, 415
 * `unsupported_attachment`. Nothing is stored for a refused file.
 */
export default defineEventHandler(async (event): Promise<Attachment> => {
  const limits = useFlumeConfig().attachments
  if (!limits.kinds.size) throw httpError(415, 'unsupported_attachment', 'This server takes no attachments.')
  const tooLarge = () => httpError(413, 'attachment_too_large', `A file may have at most ${formatBytes(limits.bytes)}.`)
  if (Number(getRequestHeader(event, 'content-length')) > limits.bytes) throw tooLarge()
  const bytes = await readLimitedBytes(event, limits.bytes, tooLarge)
  if (!bytes.byteLength) throw httpError(400, 'invalid_body', 'The file is empty.')
  const what = classify(bytes)
  if (!what || !limits.kinds.has(what.kind)) {
    const taken = [...limits.kinds].map(kind => (kind === 'image' ? 'images (PNG, JPEG, GIF, WebP)' : 'text files (UTF-8)')).join(' and ')
    throw httpError(415, 'unsupported_attachment', `This file cannot be attached: Flume takes ${taken}.`)
  }
  const owner = await useIdentity(event)
  // Uploads cost storage before any question is sent: bounded per person (unsent ones go after a day).
  const unsent = await attachmentStore.unsent(owner)
  if (unsent.count >= Math.max(limits.count * UNSENT_MESSAGES, UNSENT_MIN) || unsent.bytes + bytes.byteLength > limits.totalBytes * UNSENT_MESSAGES) {
    setResponseHeader(event, 'retry-after', 60)
    throw httpError(429, 'rate_limited', 'Too many files are uploaded and not sent yet. Send or remove some first.', { retryAfter: 60 })
  }
  const attachment = await attachmentStore.create(owner, { id: newId(), ...what, name: cleanName(uploadName(event), what.kind), bytes })
  setResponseStatus(event, 201, 'Created')
  return AttachmentSchema.parse(attachment)
})
