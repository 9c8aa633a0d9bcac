import type { Chat } from '#shared/schemas'

export const MAX_QUERY_LENGTH = 200

/** `%`, `_` and the escape character itself match literally. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, c => `\\${c}`)}%`
}

/**
 * `expr` without case, the same way on every database: LOWER() (Unicode-aware on SQLite through
 * sqlite.ts, and on PostgreSQL with a UTF-8 locale), then final sigma as sigma, since JavaScript
 * lowers a word-final 'Σ' to 'ς' and PostgreSQL to 'σ'. Applied to both sides of LIKE, in SQL.
 */
const fold = (expr: string) => `REPLACE(LOWER(${expr}), 'ς', 'σ')`

/**
 * The owner's chats whose title or any message contains `query` (case-insensitive), in the
 * list's order: most recently updated first. Folded on both sides, as PostgreSQL's LIKE is
 * case-sensitive.
 */
export async function searchChats(owner: string, query: string): Promise<Chat[]> {
  const db = await useDb()
  const pattern = likePattern(query)
  const rows = await db.prepare(`SELECT ${CHAT_LIST_COLUMNS} FROM chats c
    WHERE c.owner = ? AND (
      ${fold('c.title')} LIKE ${fold('?')} ESCAPE '\\'
      OR EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.owner = ? AND ${fold('m.content')} LIKE ${fold('?')} ESCAPE '\\')
    )
    ORDER BY c.updated_at DESC, c.created_at DESC`).all(owner, pattern, owner, pattern) as ChatRow[]
  return rows.map(toChat)
}
