import { z } from 'zod'

const ListQuery = z.object({ q: z.string().max(MAX_QUERY_LENGTH).optional() })

export default defineEventHandler(async (event) => {
  const parsed = ListQuery.safeParse(getQuery(event))
  if (!parsed.success) throw httpError(400, 'invalid_query', `q must be one string of at most ${MAX_QUERY_LENGTH} characters.`)
  const owner = await useIdentity(event)
  const q = parsed.data.q?.trim()
  return q ? searchChats(owner, q) : chatStore.list(owner)
})
