/**
 * What the abuse limits (server/http/limits.ts) read of a person's answers: read-only queries over
 * the same tables, kept apart from the chat store.
 */
export const usageStore = {
  /** Answers of `owner` that are pending or being written, in every chat (the `messages_status` index). */
  async runningCount(owner: string): Promise<number> {
    const db = await useDb()
    const row = await db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE status IN ('pending', 'streaming') AND owner = ?`).get(owner) as { n: number | string } | undefined
    return Number(row?.n ?? 0)
  },

  /**
   * Tokens (prompt + completion, from the usage each answer recorded) of the answers `owner` started
   * since `since` (epoch ms). Only chats updated since then can hold one (`chats_owner_updated`),
   * so a heavy history costs nothing.
   */
  async tokensSince(owner: string, since: number): Promise<number> {
    const db = await useDb()
    const row = await db.prepare(`SELECT SUM(COALESCE(m.prompt_tokens, 0) + COALESCE(m.completion_tokens, 0)) AS n
      FROM chats c JOIN messages m ON m.chat_id = c.id
      WHERE c.owner = ? AND c.updated_at >= ? AND m.role = 'assistant' AND m.created_at >= ?`).get(owner, since, since) as { n: number | string | null } | undefined
    return Number(row?.n ?? 0)
  },
}
