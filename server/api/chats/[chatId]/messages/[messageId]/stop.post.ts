import { MessageParams, isFinalStatus } from '#shared/schemas'

/** Stops a running answer: the upstream request is aborted and the text so far is kept. */
export default defineEventHandler(async (event) => {
  const { chatId, messageId } = paramsAs(event, MessageParams)
  const owner = await useIdentity(event)
  const message = await messageStore.get(owner, chatId, messageId)
  if (!message || message.role !== 'assistant') throw notFound()
  if (!isFinalStatus(message.status)) await stopAnswer(messageId)
  return (await messageStore.get(owner, chatId, messageId)) ?? message
})
