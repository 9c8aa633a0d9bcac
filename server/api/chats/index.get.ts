import { CHAT_PAGE, ChatListQuery, MAX_QUERY_LENGTH } from '#shared/schemas'

export default defineEventHandler(async (event) => {
  const parsed = ChatListQuery.safeParse(getQuery(event))
  if (!parsed.success) {
    throw httpError(400, 'invalid_query', `q must be one string of at most ${MAX_QUERY_LENGTH} characters, limit a number from 1 to ${CHAT_PAGE.max}, before a cursor from a page's next.`)
  }
  const owner = await useIdentity(event)
  const { limit, before } = parsed.data
  const q = parsed.data.q?.trim()
  // Without limit or before, every chat as a plain array (CONTRACT.md); with either, one page (docs/paging.md).
  if (limit === undefined && before === undefined) return q ? searchChats(owner, q) : chatStore.list(owner)
  const page = { limit: limit ?? CHAT_PAGE.default, before }
  return q ? searchChatsPage(owner, q, page) : chatStore.page(owner, page)
})
