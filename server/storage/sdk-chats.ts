import { IdSchema, type Message } from '#shared/schemas'
import { toMessage } from './store'

type MessageRow = Parameters<typeof toMessage>[0]

/**
 * The chats of the AI SDK endpoint (`/api/chat`, docs/ai-sdk.md). The SDK names a chat with an id
 * its client made up; the Flume chat it names belongs to the identity asking. An id that already is
 * one of this identity's chats is that chat (a page can go on with a chat from Flume's own UI);
 * any other id names the chat whose id is derived from the identity and that id, made on first
 * use. Two identities that use the same SDK id therefore get two chats, and nobody can name
 * another identity's chat: every lookup takes the owner.
 */
export const sdkChats = {
  async chatIdFor(owner: string, sdkId: string): Promise<string> {
    if (IdSchema.safeParse(sdkId).success && await chatStore.get(owner, sdkId)) return sdkId
    return await derivedChatId(owner, sdkId)
  },

  /** The chat's newest answer still being written (`pending` or `streaming`), if any. */
  async runningAnswer(owner: string, chatId: string): Promise<Message | undefined> {
    const db = await useDb()
    const row = await db.prepare(`SELECT * FROM messages WHERE chat_id = ? AND owner = ? AND role = 'assistant' AND status IN ('pending', 'streaming') ORDER BY position DESC LIMIT 1`)
      .get(chatId, owner) as MessageRow | undefined
    return row ? toMessage(row) : undefined
  },

  /** The chat's newest message, if any. */
  async lastMessage(owner: string, chatId: string): Promise<Message | undefined> {
    const { messages } = await messageStore.page(owner, chatId, { limit: 1 })
    return messages[0]
  },
}

/** 128 bits of SHA-256 over the identity and the SDK's id, as a Flume id (22 url-safe characters). */
async function derivedChatId(owner: string, sdkId: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`flume-ai-sdk-chat\0${owner}\0${sdkId}`)))
  let binary = ''
  for (const byte of digest.subarray(0, 16)) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
