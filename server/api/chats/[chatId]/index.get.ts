import { ChatMessagesQuery, ChatParams, MESSAGE_PAGE, type ChatWithMessages } from '#shared/schemas'

export default defineEventHandler(async (event): Promise<ChatWithMessages> => {
  const { chatId } = paramsAs(event, ChatParams)
  const parsed = ChatMessagesQuery.safeParse(getQuery(event))
  if (!parsed.success) throw httpError(400, 'invalid_query', `limit must be a number from 1 to ${MESSAGE_PAGE.max}, before a cursor from a chat's next.`)
  const owner = await useIdentity(event)
  const chat = await chatStore.get(owner, chatId)
  if (!chat) throw notFound()
  const { limit, before } = parsed.data
  // Without limit or before, every message (CONTRACT.md); with either, the newest and a cursor (docs/paging.md).
  if (limit === undefined && before === undefined) return { ...chat, messages: await messageStore.list(owner, chatId) }
  return { ...chat, ...await messageStore.page(owner, chatId, { limit: limit ?? MESSAGE_PAGE.default, before }) }
})
