import type { Message } from '#shared/schemas'
import { toMessage } from './store'

/**
 * An answer by its id and owner alone: a WebSocket follows answers without their chat's id
 * (docs/websocket.md). Another identity's answer, a question or an unknown id are all undefined.
 */
export async function findOwnAnswer(owner: string, messageId: string): Promise<Message | undefined> {
  const db = await useDb()
  const row = await db.prepare(`SELECT * FROM messages WHERE id = ? AND owner = ? AND role = 'assistant'`).get(messageId, owner)
  return row ? toMessage(row as Parameters<typeof toMessage>[0]) : undefined
}
