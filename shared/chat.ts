/**
 * Plain constants and helpers of the chat model, free of zod so the browser bundle can import
 * them; `schemas.ts` builds the validators on top.
 */

/** Longest message a person may send, in JavaScript string length (the HTTP contract). */
export const MAX_CONTENT_LENGTH = 100_000
export const MAX_TITLE_LENGTH = 200
/** Longest system prompt a chat may have. */
export const MAX_SYSTEM_PROMPT_LENGTH = 20_000
/** The range of `temperature` OpenAI's API accepts. */
export const TEMPERATURE_RANGE = { min: 0, max: 2 } as const

export const MESSAGE_STATUSES = ['pending', 'streaming', 'done', 'stopped', 'error'] as const
export const FINAL_STATUSES = ['done', 'stopped', 'error'] as const

/** Longest search text (GET /api/chats?q=). */
export const MAX_QUERY_LENGTH = 200
/** Chats per page of GET /api/chats when the client gives no `limit` but a `before` (docs/paging.md), and at most. */
export const CHAT_PAGE = { default: 50, max: 200 } as const
/** Messages per page of GET /api/chats/:chatId when paged (docs/paging.md), and at most. */
export const MESSAGE_PAGE = { default: 100, max: 500 } as const

/** The stream's last `data:` line; everything before it is JSON. */
export const DONE_SENTINEL = '[DONE]'

export function isFinalStatus(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status)
}

/** Where a message's stream is read (relative to the origin). */
export function streamUrlFor(chatId: string, messageId: string): string {
  return `/api/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}/stream`
}
