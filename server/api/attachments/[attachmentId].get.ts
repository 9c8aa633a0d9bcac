import { z } from 'zod'
import { IdSchema } from '#shared/schemas'
import { attachmentStore } from '../../storage/attachments'

/**
 * An attachment's bytes, for its owner only (anyone else: 404). Served so that no file can act as a
 * page of Flume's origin: images with their own type (recognised by their bytes at upload) and
 * shown inline; everything else as `text/plain` and downloaded; `nosniff`, and a CSP that allows
 * nothing and sandboxes whatever would be opened.
 */
export default defineEventHandler(async (event) => {
  const { attachmentId } = paramsAs(event, z.object({ attachmentId: IdSchema }))
  const owner = await useIdentity(event)
  const found = await attachmentStore.read(owner, attachmentId)
  if (!found) throw httpError(404, 'not_found', 'No such attachment.')
  const { attachment, bytes } = found
  const image = attachment.kind === 'image'
  setResponseHeaders(event, {
    'content-type': image ? attachment.mediaType : 'text/plain; charset=utf-8',
    'content-disposition': `${image ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(attachment.name)}`,
    'content-length': bytes.byteLength,
    'x-content-type-options': 'nosniff',
    'content-security-policy': 'default-src \'none\'; sandbox',
    // Never changes (a new file is a new id); kept by this browser only.
    'cache-control': 'private, max-age=86400, immutable',
  })
  return bytes
})
