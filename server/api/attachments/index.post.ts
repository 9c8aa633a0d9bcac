import type { Attachment } from '#shared/schemas'

/**
 * Uploads one file for a question (docs/attachments.md): the body is the file's bytes, `?name=` its
 * name. What it is comes from its bytes, not its name or Content-Type: an image (PNG, JPEG, GIF,
 * WebP) or UTF-8 text. 201 with the attachment; 413 `attachment_too_large`, 415
 * `unsupported_attachment`. Nothing is stored for a refused file.
 */
export default defineEventHandler(async (event): Promise<Attachment> => {
  const limits = attachmentLimits()
  if (!limits.kinds.size) throw attachmentRefusals.off()
  const tooLarge = () => attachmentRefusals.fileTooLarge(limits)
  if (Number(getRequestHeader(event, 'content-length')) > limits.bytes) throw tooLarge()
  const bytes = await readLimitedBytes(event, limits.bytes, tooLarge)
  const attachment = await storeUpload(event, await useIdentity(event), bytes, uploadName(event))
  setResponseStatus(event, 201, 'Created')
  return attachment
})
