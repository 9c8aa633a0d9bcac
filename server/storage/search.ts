import type { Chat } from '#shared/schemas'

export const MAX_QUERY_LENGTH = 200

/** `%`, `_` and the escape character itself match literally. */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, c => `\\${c}`)}%`
}

/**
 * The owner's chats whose title or any message contains `query` (case-insensitive), in the
 * list's order: most recently updated first. LOWER() on both sides so that PostgreSQL, whose
 * LIKE is case-sensitive, agrees with SQLite.
 */
export async function searchChats(owner: string, query: string): Promise<Chat[]> {
  const db = await useDb()
  const pattern = likePattern(query)
  const rows = await db.prepare(`SELECT ${CHAT_LIST_COLUMNS} FROM chats c
    WHERE c.owner = ? AND (
      LOWER(c.title) LIKE ? ESCAPE '\\'
      OR EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.owner = ? AND LOWER(m.content) LIKE ? ESCAPE '\\')
    )
    ORDER BY c.updated_at DESC, c.created_at DESC`).all(owner, pattern, owner, pattern) as ChatRow[]
  return rows.map(toChat)
}
