import type { Chat, ChatPage } from '#shared/schemas'

/** `%`, `_` and the escape character itself match literally. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, c => `\\${c}`)}%`
}

/**
 * `expr` without case, the same way on every database: LOWER() (Unicode-aware on SQLite through
 * sqlite.ts, and on PostgreSQL with a UTF-8 locale), then final sigma as sigma, since JavaScript
 * lowers a word-final 'Σ' to 'ς' and PostgreSQL to 'σ'. Applied to both sides of LIKE, in SQL.
 * PostgreSQL's trigram indexes (migration 6) are built on exactly this expression.
 */
const fold = (expr: string) => `REPLACE(LOWER(${expr}), 'ς', 'σ')`

/**
 * SQLite's trigram index (`messages_fts`, migration 6) finds texts holding any run of at least 3
 * characters; shorter queries read the messages themselves.
 */
const TRIGRAM = 3

/** `text` as one FTS5 phrase: with the trigram tokenizer, the texts that contain it (case folded by FTS5). */
const phrase = (text: string) => `"${text.replace(/"/g, '""')}"`

/**
 * Above this many messages (of anyone) holding the query, a page of results is found faster by
 * reading the owner's chats in order and stopping at the page's end than by collecting every chat
 * the index names first (a word nearly every message has: 2 ms against 150 ms, bench/README.md).
 */
const DENSE = 2000

/** PostgreSQL: how many chats a page of search results first reads in order (see search). */
const SCAN_CHATS = 200
/** ... and how many times as many it then reads on, at most as found so far, before the index is faster. */
const DENSE_REACH = 3

/**
 * Running answers (pending, streaming) are not in the search indexes (migration 6 indexes an answer
 * once it ends, not at each progress save); there are few of them, found by `messages_status`.
 */
const RUNNING = `m.status IN ('pending', 'streaming')`
const FINAL = `m.status NOT IN ('pending', 'streaming')`

/**
 * Which chats hold a message containing `query`, as a condition on `c.id` (`pattern` is its LIKE
 * pattern): by the database's own index, FTS5 trigrams on SQLite, a pg_trgm GIN index on PostgreSQL (where LIKE on the folded
 * text is what that index serves), for final messages, and the running answers' saved text read
 * directly. Both answer the same chats as a plain LIKE (docs/paging.md says where they could differ).
 */
async function messageMatch(db: Awaited<ReturnType<typeof useDb>>, owner: string, query: string, pattern: string, paged: boolean): Promise<[string, string[]]> {
  const like = `${fold('m.content')} LIKE ${fold('?')} ESCAPE '\\'`
  // SQLite's statistics (ANALYZE) see one status on nearly every row and would read them all.
  const byStatus = db.dialect === 'sqlite' ? ' INDEXED BY messages_status' : ''
  const running = `c.id IN (SELECT m.chat_id FROM messages m${byStatus} WHERE ${RUNNING} AND m.owner = ? AND ${like})`
  if (db.dialect !== 'sqlite') {
    // The partial trigram index (migration 6) serves only a query that names its condition.
    return [`c.id IN (SELECT m.chat_id FROM messages m WHERE m.owner = ? AND ${FINAL} AND ${like}) OR ${running}`, [owner, pattern, owner, pattern]]
  }
  const scan: [string, string[]] = [`EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND ${like})`, [pattern]]
  if ([...query].length < TRIGRAM) return scan
  if (paged) {
    const found = await db.prepare('SELECT COUNT(*) AS n FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?)').get(phrase(query), DENSE) as { n: number }
    if (Number(found.n) >= DENSE) return scan
  }
  return [`c.id IN (SELECT f.chat_id FROM messages_fts f WHERE messages_fts MATCH ? AND f.owner = ?) OR ${running}`, [phrase(query), owner, owner, pattern]]
}

async function search(owner: string, query: string, page?: PageRequest) {
  const db = await useDb()
  const pattern = likePattern(query)
  const title = `${fold('c.title')} LIKE ${fold('?')} ESCAPE '\\'`
  const byIndex = async (page?: PageRequest) => {
    const [inMessages, params] = await messageMatch(db, owner, query, pattern, page !== undefined)
    const [sql, all] = chatListQuery(`c.owner = ? AND (${title} OR ${inMessages})`, [owner, pattern, ...params], page)
    return await db.prepare(sql).all(...all) as ChatRow[]
  }
  if (!page || db.dialect === 'sqlite') return await byIndex(page)

  // PostgreSQL, a page: the trigram index answers a rare text at once, but a text most messages
  // hold (or one of 1 or 2 characters, which it cannot serve) costs every matching message first
  // (150 to 220 ms at 100,000 messages). Reading the chats in order and looking into each one's
  // messages stops at the page's end instead: first over the next SCAN_CHATS chats; what they
  // yield says whether to go on that way or to ask the index for the rest (bench/README.md).
  // A scalar subquery, not EXISTS, which PostgreSQL would turn into one pass over every message.
  const inChat = `(SELECT TRUE FROM messages m WHERE m.chat_id = c.id AND ${fold('m.content')} LIKE ${fold('?')} ESCAPE '\\' LIMIT 1)`
  const scan = async (range: string, rangeParams: (string | number)[], page: PageRequest) => {
    const [sql, all] = chatListQuery(`c.owner = ?${range} AND (${title} OR ${inChat})`, [owner, ...rangeParams, pattern, pattern], page)
    return await db.prepare(sql).all(...all) as ChatRow[]
  }
  // The last of the next SCAN_CHATS chats (LIMIT 1, as a page of 0 asks, OFFSET to it).
  const [edgeSql, edgeParams] = chatListQuery('c.owner = ?', [owner], { limit: 0, before: page.before }, 'c.updated_at, c.created_at, c.id')
  const edge = await db.prepare(`${edgeSql} OFFSET ?`).get(...edgeParams, SCAN_CHATS - 1) as Pick<ChatRow, 'updated_at' | 'created_at' | 'id'> | undefined
  if (!edge) return await scan('', [], page)
  const first = await scan(' AND (c.updated_at, c.created_at, c.id) >= (?, ?, ?)', [edge.updated_at, edge.created_at, edge.id], page)
  if (first.length > page.limit) return first
  const rest: PageRequest = { limit: page.limit - first.length, before: `${Number(edge.updated_at)}.${Number(edge.created_at)}.${edge.id}` }
  // Dense enough that the page ends within about DENSE_REACH more chats: go on reading in order.
  const dense = first.length * DENSE_REACH >= rest.limit + 1
  return [...first, ...await (dense ? scan('', [], rest) : byIndex(rest))]
}

/**
 * The owner's chats whose title or any message contains `query` (case-insensitive), in the
 * list's order: most recently updated first. Folded on both sides, as PostgreSQL's LIKE is
 * case-sensitive.
 */
export async function searchChats(owner: string, query: string): Promise<Chat[]> {
  return (await search(owner, query)).map(toChat)
}

/** One page of `searchChats` (docs/paging.md). */
export async function searchChatsPage(owner: string, query: string, page: PageRequest): Promise<ChatPage> {
  return toChatPage(await search(owner, query, page), page.limit)
}
