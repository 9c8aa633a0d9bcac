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
