import { registerEndpoint } from '@nuxt/test-utils/runtime'
import { STATUS_CODES } from 'node:http'
import { readBody, setResponseStatus, type H3Event } from 'h3'
import type { Message } from '#shared/schemas'

let counter = 0

/** Ids unique across the test run: the Nuxt app and its state are shared by all tests. */
export function uid(prefix: string) {
  counter += 1
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 10)}`
}

export function message(chatId: string, fields: Partial<Message> & Pick<Message, 'role'>): Message {
  return {
    id: uid('msg'),
    chatId,
    content: '',
    status: 'done',
    createdAt: new Date().toISOString(),
    ...fields,
  }
}

export function chatOf(chatId: string, messages: Message[]) {
  const now = new Date().toISOString()
  return { id: chatId, title: 'A chat', createdAt: now, updatedAt: now, messages }
}

/** A chat whose GET and POST /messages answer like the server, recording what was sent. */
export function serveChat(chatId: string, stored: Message[] = []) {
  const posted: string[] = []
  registerEndpoint(`/api/chats/${chatId}`, { method: 'GET', handler: () => chatOf(chatId, stored) })
  registerEndpoint(`/api/chats/${chatId}/messages`, {
    method: 'POST',
    handler: async (event) => {
      const { content } = await readBody<{ content: string }>(event)
      posted.push(content)
      const userMessage = message(chatId, { role: 'user', content })
      const assistantMessage = message(chatId, { role: 'assistant', status: 'pending' })
      stored.push(userMessage, assistantMessage)
      return { userMessage, assistantMessage, streamUrl: `/api/chats/${chatId}/messages/${assistantMessage.id}/stream` }
    },
  })
  return { posted, stored }
}

/** Answers as the server does for an h3 error (CONTRACT.md): the status and `{ status, statusText, message, data: { code } }`. */
export function errorReply(event: H3Event, status: number, code: string, message: string) {
  const statusText = STATUS_CODES[status] ?? 'Error'
  setResponseStatus(event, status, statusText)
  return { status, statusText, message, data: { code } }
}
