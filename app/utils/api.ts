import { streamUrlFor } from '#shared/chat'
import type { MessageError } from '#shared/schemas'

/** The `{ code, message }` of a failed `$fetch` call (h3 error body, CONTRACT.md). */
export function apiError(err: unknown, fallback = 'Something went wrong. Please try again.'): MessageError {
  const body = (err as { data?: { message?: unknown, data?: { code?: unknown, retryAfter?: unknown } } } | null)?.data
  const code = typeof body?.data?.code === 'string' ? body.data.code : 'request_failed'
  let message = typeof body?.message === 'string' && body.message ? body.message : fallback
  // A refusal by the abuse limits says when to try again, relative to now; for a wait of more than
  // a minute the clock time is added, so the message stays true while it is on screen.
  const retryAfter = body?.data?.retryAfter
  if (typeof retryAfter === 'number' && retryAfter > 60) {
    const at = new Date(Date.now() + retryAfter * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    message = message.replace(/\.$/, '') + ` (at ${at}).`
  }
  return { code, message }
}

type MessageAction = 'stop' | 'retry' | 'edit' | 'continue'

/** The paths of the chat API (CONTRACT.md) the web client calls, ids encoded. */
export const apiPaths = {
  chats: () => '/api/chats',
  chat: (chatId: string) => `/api/chats/${encodeURIComponent(chatId)}`,
  messages: (chatId: string) => `${apiPaths.chat(chatId)}/messages`,
  message: (chatId: string, messageId: string, action: MessageAction) => `${apiPaths.messages(chatId)}/${encodeURIComponent(messageId)}/${action}`,
  /** Where an answer's stream is read: the server's own path (it hands out the same as `streamUrl`). */
  stream: (chatId: string, messageId: string) => streamUrlFor(chatId, messageId),
}
