import { z } from 'zod'
import { IdSchema } from '#shared/schemas'
import { attachmentStore } from '../../storage/attachments'

/** Removes an upload not sent yet (taken out of the composer): 204. A sent file goes with its chat (or an edit that drops it); 404 here. */
export default defineEventHandler(async (event) => {
  const { attachmentId } = paramsAs(event, z.object({ attachmentId: IdSchema }))
  const owner = await useIdentity(event)
  if (!await attachmentStore.removeUnsent(owner, attachmentId)) throw httpError(404, 'not_found', 'No such unsent attachment.')
  return sendNoContent(event, 204)
})
