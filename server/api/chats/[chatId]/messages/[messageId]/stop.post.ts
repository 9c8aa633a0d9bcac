import { MessageParams, isFinalStatus } from '#shared/schemas'

/** Stops a running answer: the upstream request is aborted and the text so far is kept. */
export default defineEventHandler(async (event) => {
  const { chatId, messageId } = paramsAs(event, MessageParams)
  const owner = await useIdentity(event)
  const message = await messageStore.get(owner, chatId, messageId)
  if (!message || message.role !== 'assistant') throw notFound()
  if (!isFinalStatus(message.status) && !await useRuns().stop(messageId)) {
    // Marked running, but no instance writes it (its run died with a restart): end it here,
    // unless it ended meanwhile.
    await messageStore.finish(messageId, { content: message.content, status: 'stopped' }, ['pending', 'streaming'])
  }
  return (await messageStore.get(owner, chatId, messageId)) ?? message
})
