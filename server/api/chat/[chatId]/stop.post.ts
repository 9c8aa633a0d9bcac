import { z } from 'zod'

/** The SDK's docs post the partial message here; Flume keeps its own text, so only `messageId` counts. */
const StopBody = z.looseObject({ messageId: z.string().max(200).optional() })

/**
 * Stops the chat's running answer (its upstream request is aborted, the text so far kept as
 * `stopped`): 200 with that Flume `Message`, 204 when none runs. Aborting the SDK's request
 * (`stop()`) does not stop it, as everywhere in Flume. With `messageId`, only that answer.
 */
export default defineEventHandler(async (event) => {
  const sdkId = sdkChatParam(event)
  const body = await readBodyAs(event, StopBody)
  const owner = await useIdentity(event)
  const chatId = await sdkChats.chatIdFor(owner, sdkId)
  const answer = await sdkChats.runningAnswer(owner, chatId)
  if (!answer || (body.messageId !== undefined && body.messageId !== answer.id)) return sendNoContent(event, 204)
  await stopAnswer(answer.id)
  return (await messageStore.get(owner, chatId, answer.id)) ?? answer
})
