import type { Attachment, Chat, ChatPage, Message, MessageError, MessageStatus, Usage } from '#shared/schemas'
import { titleFrom } from '#shared/titles'
import type { AnswerText } from '../generation/run'
import { attachmentStore, linkAttachments } from './attachments'

export interface ChatRow {
  id: string
  owner: string
  title: string
  model: string | null
  system_prompt: string | null
  temperature: number | null
  created_at: number
  updated_at: number
  /** Only in list queries: 1 while one of the chat's answers is pending or streaming. */
  streaming?: number | null
}
interface MessageRow {
  id: string
  chat_id: string
  owner: string
  position: number
  role: 'user' | 'assistant'
  content: string
  status: MessageStatus
  error_code: string | null
  error_message: string | null
  model: string | null
  prompt_tokens: number | null
  completion_tokens: number | null
  created_at: number
  heartbeat_at?: number | null
  /** Migration 7 (docs/reasoning.md); NULL: none. */
  reasoning?: string | null
  reasoning_ms?: number | null
  reasoning_tokens?: number | null
}

/** What the run registries read of an answer by its id alone. */
export interface SavedAnswer extends Pick<Message, 'content' | 'reasoning' | 'reasoningMs' | 'status' | 'usage' | 'error'> {
  /** When its writer last saved it (epoch ms). */
  heartbeatAt?: number
}

export const DEFAULT_TITLE = 'New chat'
/** `chats.title_source` (migration 4): NULL derived from the first question, or chosen by the person or the model. */
export type TitleSource = 'user' | 'generated' | null

export interface ChatChanges { title?: string, model?: string | null, systemPrompt?: string | null, temperature?: number | null }
const SETTING_COLUMNS = [['model', 'model'], ['systemPrompt', 'system_prompt'], ['temperature', 'temperature']] as const

const iso = (ms: number) => new Date(Number(ms)).toISOString()

export function toChat(row: ChatRow): Chat {
  const chat: Chat = { id: row.id, title: row.title, createdAt: iso(row.created_at), updatedAt: iso(row.updated_at) }
  if (row.model) chat.model = row.model
  if (row.system_prompt) chat.systemPrompt = row.system_prompt
  if (row.temperature != null) chat.temperature = Number(row.temperature)
  if (row.streaming !== undefined) chat.streaming = Boolean(Number(row.streaming))
  return chat
}

/**
 * The columns of a chat list (`c` is the chats table): a chat is `streaming` while one of its
 * answers is still being written (in any tab, on any server), for the sidebar's indicator.
 */
export const CHAT_LIST_COLUMNS = `c.*, EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.status IN ('pending', 'streaming')) AS streaming`

/** Asks for one page of a chat list: at most `limit` chats, those after the cursor `before`. */
export interface PageRequest { limit: number, before?: string }

/**
 * A chat list query over `c` (the chats table) with `where` (its params in `params`), in the list's
 * order: most recently updated first, then newest, then by id, so that every chat has one place
 * and a page ends at a cursor (`<updated_at>.<created_at>.<id>`: docs/paging.md) that the
 * `chats_owner_recent` index finds. With a page, one row more than asked says whether more follow.
 */
export function chatListQuery(where: string, params: ListParams, page?: PageRequest, columns = CHAT_LIST_COLUMNS): [string, ListParams] {
  const all = [...params]
  let sql = `SELECT ${columns} FROM chats c WHERE ${where}`
  const after = page?.before ? parseChatCursor(page.before) : undefined
  if (after) {
    sql += ' AND (c.updated_at, c.created_at, c.id) < (?, ?, ?)'
    all.push(after.updatedAt, after.createdAt, after.id)
  }
  sql += ' ORDER BY c.updated_at DESC, c.created_at DESC, c.id DESC'
  if (page) {
    sql += ' LIMIT ?'
    all.push(page.limit + 1)
  }
  return [sql, all]
}

type ListParams = (string | number)[]

function parseChatCursor(cursor: string): { updatedAt: number, createdAt: number, id: string } {
  const [updatedAt, createdAt, id] = cursor.split('.') as [string, string, string]
  return { updatedAt: Number(updatedAt), createdAt: Number(createdAt), id }
}

/** The rows of a `chatListQuery` with a page: the page, and the cursor after it (`null`: it is the last). */
export function toChatPage(rows: ChatRow[], limit: number): ChatPage {
  const more = rows.length > limit
  const shown = more ? rows.slice(0, limit) : rows
  const last = shown.at(-1)
  return { chats: shown.map(toChat), next: more && last ? `${Number(last.updated_at)}.${Number(last.created_at)}.${last.id}` : null }
}

export function toMessage(row: MessageRow): Message {
  const message: Message = {
    id: row.id,
    chatId: row.chat_id,
    role: row.role,
    content: row.content,
    status: row.status,
    createdAt: iso(row.created_at),
  }
  if (row.reasoning) message.reasoning = row.reasoning
  if (row.reasoning_ms != null) message.reasoningMs = Number(row.reasoning_ms)
  if (row.error_code) message.error = { code: row.error_code, message: row.error_message ?? '' }
  if (row.model) message.model = row.model
  const usage = usageOf(row)
  if (usage) message.usage = usage
  return message
}

function usageOf(row: Pick<MessageRow, 'prompt_tokens' | 'completion_tokens' | 'reasoning_tokens'>): Usage | undefined {
  if (row.prompt_tokens == null || row.completion_tokens == null) return undefined
  return {
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    ...(row.reasoning_tokens ? { reasoningTokens: Number(row.reasoning_tokens) } : {}),
  }
}

/** Every query takes the owner: another identity's rows are invisible, never "forbidden". */
export const chatStore = {
  async create(owner: string, title = DEFAULT_TITLE): Promise<Chat> {
    const db = await useDb()
    const row = newChatRow(owner, newId(), title)
    const [sql, ...params] = insertChat(row, title === DEFAULT_TITLE ? null : 'user')
    await db.prepare(sql).run(...params)
    return toChat(row)
  },

  /**
   * A new chat with its first question and that question's `pending` answer, in one
   * transaction (a crash leaves either all of it or nothing).
   */
  async createWithExchange(owner: string, chat: { id: string, title?: string }, content: string, model: string, assistantId: string, rememberModel = false, attachments: Attachment[] = []): Promise<{ chat: Chat } & Exchange> {
    const db = await useDb()
    const row = newChatRow(owner, chat.id, chat.title ?? DEFAULT_TITLE)
    const { statements, exchange } = exchangeStatements(owner, toChat(row), content, model, assistantId, rememberModel, attachments)
    // A title sent with the question is the person's, unless it is the one derived from it (the web client's).
    const source = chat.title === undefined || chat.title === titleFrom(titleBasis(content, attachments)) ? null : 'user'
    await runBatch(db, [insertChat(row, source), ...statements])
    return { chat: exchange.chat, userMessage: exchange.userMessage, assistantMessage: exchange.assistantMessage }
  },

  async list(owner: string): Promise<Chat[]> {
    const db = await useDb()
    const [sql, params] = chatListQuery('c.owner = ?', [owner])
    const rows = await db.prepare(sql).all(...params) as ChatRow[]
    return rows.map(toChat)
  },

  /** One page of the owner's chats, in the list's order (docs/paging.md). */
  async page(owner: string, page: PageRequest): Promise<ChatPage> {
    const db = await useDb()
    const [sql, params] = chatListQuery('c.owner = ?', [owner], page)
    return toChatPage(await db.prepare(sql).all(...params) as ChatRow[], page.limit)
  },

  async get(owner: string, chatId: string): Promise<Chat | undefined> {
    const db = await useDb()
    const row = await db.prepare('SELECT * FROM chats WHERE id = ? AND owner = ?').get(chatId, owner) as ChatRow | undefined
    return row ? toChat(row) : undefined
  },

  /**
   * Changes the title and/or settings (`null` forgets a setting). Only a new title moves the chat
   * up the list; settings do not.
   */
  async update(owner: string, chatId: string, changes: ChatChanges): Promise<Chat | undefined> {
    const db = await useDb()
    const statements: Statement[] = []
    if (changes.title !== undefined) {
      statements.push([`UPDATE chats SET title = ?, title_source = 'user', updated_at = ? WHERE id = ? AND owner = ?`, changes.title, Date.now(), chatId, owner])
    }
    for (const [key, column] of SETTING_COLUMNS) {
      const value = changes[key]
      if (value !== undefined) statements.push([`UPDATE chats SET ${column} = ? WHERE id = ? AND owner = ?`, value, chatId, owner])
    }
    await runBatch(db, statements)
    return this.get(owner, chatId)
  },

  async remove(owner: string, chatId: string): Promise<boolean> {
    const db = await useDb()
    if (!await this.get(owner, chatId)) return false
    await runBatch(db, [
      ['DELETE FROM attachments WHERE chat_id = ? AND owner = ?', chatId, owner],
      ['DELETE FROM messages WHERE chat_id = ? AND owner = ?', chatId, owner],
      ['DELETE FROM chats WHERE id = ? AND owner = ?', chatId, owner],
    ])
    return true
  },
}

/**
 * Running answers saved per transaction. SQLite writes synchronously: 1,000 answers saved in one
 * go held the event loop for about 175 ms each second, and every token relayed meanwhile waited
 * (relay bench A: +40 ms median delay). In chunks, the tokens that arrive go out between them.
 */
const PROGRESS_CHUNK = 50

export const messageStore = {
  async list(owner: string, chatId: string): Promise<Message[]> {
    const db = await useDb()
    const rows = await db.prepare('SELECT * FROM messages WHERE chat_id = ? AND owner = ? ORDER BY position').all(chatId, owner) as MessageRow[]
    return await withAttachments(rows.map(toMessage))
  },

  /**
   * The chat's `limit` newest messages (before position `before`, if given), oldest first, and the
   * cursor of the ones before them (`null`: none). A long chat opens at its end without reading
   * the rest (`messages_chat_position`).
   */
  async page(owner: string, chatId: string, page: { limit: number, before?: string }): Promise<{ messages: Message[], next: string | null }> {
    const db = await useDb()
    const before = page.before === undefined ? '' : ' AND position < ?'
    const rows = await db.prepare(`SELECT * FROM messages WHERE chat_id = ? AND owner = ?${before} ORDER BY position DESC LIMIT ?`)
      .all(chatId, owner, ...(page.before === undefined ? [] : [Number(page.before)]), page.limit + 1) as MessageRow[]
    const more = rows.length > page.limit
    const shown = (more ? rows.slice(0, page.limit) : rows).reverse()
    return { messages: await withAttachments(shown.map(toMessage)), next: more ? String(Number(shown[0]!.position)) : null }
  },

  async get(owner: string, chatId: string, messageId: string): Promise<Message | undefined> {
    const db = await useDb()
    const row = await db.prepare('SELECT * FROM messages WHERE id = ? AND chat_id = ? AND owner = ?').get(messageId, chatId, owner) as MessageRow | undefined
    return row ? (await withAttachments([toMessage(row)]))[0] : undefined
  },

  /** Ids of a chat's messages still generating, so deleting the chat can stop them. */
  async running(owner: string, chatId: string): Promise<string[]> {
    const db = await useDb()
    const rows = await db.prepare(`SELECT id FROM messages WHERE chat_id = ? AND owner = ? AND status IN ('pending', 'streaming')`).all(chatId, owner) as { id: string }[]
    return rows.map(r => r.id)
  },

  /**
   * Stores the person's message and the assistant's `pending` answer in one transaction,
   * before the 202 goes out: a crash after that loses neither. With `rememberModel` the chat
   * keeps `model` for its next messages.
   */
  async createExchange(owner: string, chat: Chat, content: string, model: string, assistantId = newId(), rememberModel = false, attachments: Attachment[] = []): Promise<Exchange> {
    const db = await useDb()
    const { statements, exchange } = exchangeStatements(owner, chat, content, model, assistantId, rememberModel, attachments)
    await runBatch(db, statements)
    return { userMessage: exchange.userMessage, assistantMessage: exchange.assistantMessage }
  },

  /**
   * Edit and resend: the person's message `messageId` and everything after it are replaced, in one
   * transaction, by the edited message and a `pending` answer (new ids, so old streams stay
   * consistent). Undefined when `messageId` is not one of the chat's own questions. Running
   * answers must be stopped first.
   */
  async editExchange(owner: string, chat: Chat, messageId: string, content: string, model: string, assistantId = newId(), rememberModel = false, attachments?: Attachment[]): Promise<Exchange | undefined> {
    const db = await useDb()
    const edited = await db.prepare(`SELECT position, content FROM messages WHERE id = ? AND chat_id = ? AND owner = ? AND role = 'user'`)
      .get(messageId, chat.id, owner) as { position: number, content: string } | undefined
    if (!edited) return undefined
    const first = await db.prepare(`SELECT MIN(position) AS position FROM messages WHERE chat_id = ? AND owner = ? AND role = 'user'`)
      .get(chat.id, owner) as { position: number | null }
    const { title_source: source } = await db.prepare('SELECT title_source FROM chats WHERE id = ? AND owner = ?')
      .get(chat.id, owner) as { title_source: TitleSource }
    // The first question gets new words: a title made from the old ones (its first words, or one
    // the model wrote about it) follows them; a title the person chose stays.
    const retitle = Number(first.position) === Number(edited.position) && source !== 'user'
    // Without a list, the question keeps the files it had.
    const files = attachments ?? (await attachmentStore.ofMessages([messageId])).get(messageId) ?? []
    const kept = files.map(file => file.id)
    const { statements, exchange } = exchangeStatements(owner, retitle ? { ...chat, title: DEFAULT_TITLE } : chat, content, model, assistantId, rememberModel, files)
    await runBatch(db, [
      // The files of the replaced messages go with them, but for those the edited question keeps.
      [`DELETE FROM attachments WHERE chat_id = ? AND owner = ?
        AND message_id IN (SELECT id FROM messages WHERE chat_id = ? AND owner = ? AND position >= ?)${kept.length ? ` AND id NOT IN (${kept.map(() => '?').join(', ')})` : ''}`,
      chat.id, owner, chat.id, owner, edited.position, ...kept],
      ['DELETE FROM messages WHERE chat_id = ? AND owner = ? AND position >= ?', chat.id, owner, edited.position],
      ...statements,
    ])
    return { userMessage: exchange.userMessage, assistantMessage: exchange.assistantMessage }
  },

  /**
   * Replaces the chat's last answer, once it is finished (failed, stopped, or done: regenerate),
   * by a new `pending` one in its place. Undefined when that answer is not the last one, still
   * running, or already replaced.
   */
  async replaceAnswer(owner: string, chatId: string, messageId: string, model: string, newAnswerId = newId()): Promise<Message | undefined> {
    const db = await useDb()
    const now = Date.now()
    await runBatch(db, [
      [`INSERT INTO messages (id, chat_id, owner, position, role, content, status, model, created_at)
        SELECT ?, chat_id, owner, position, 'assistant', '', 'pending', ?, ? FROM messages old
        WHERE old.id = ? AND old.chat_id = ? AND old.owner = ? AND old.role = 'assistant' AND old.status IN ('error', 'stopped', 'done')
          AND old.position = (SELECT MAX(position) FROM messages WHERE chat_id = old.chat_id)`, newAnswerId, model, now, messageId, chatId, owner],
      ['DELETE FROM messages WHERE id = ? AND EXISTS (SELECT 1 FROM messages WHERE id = ?)', messageId, newAnswerId],
      ['UPDATE chats SET updated_at = ? WHERE id = ? AND owner = ? AND EXISTS (SELECT 1 FROM messages WHERE id = ?)', now, chatId, owner, newAnswerId],
    ])
    return this.get(owner, chatId, newAnswerId)
  },

  /**
   * Continue: the chat's last answer, once it ended in `error` or `stopped`, becomes `pending`
   * again with its text and usage kept; the new text will be appended. Undefined when it is not
   * the last answer, did not end that way, or its text is no longer `content`.
   */
  async reopenAnswer(owner: string, chatId: string, messageId: string, content: string): Promise<Message | undefined> {
    const db = await useDb()
    const now = Date.now()
    // Only if its text is still `content`, the text the continuation is seeded with.
    const reopened = `id = ? AND chat_id = ? AND owner = ? AND role = 'assistant' AND status IN ('error', 'stopped') AND content = ?
      AND position = (SELECT MAX(position) FROM messages WHERE chat_id = ?)`
    const res = await db.prepare(`UPDATE messages SET status = 'pending', error_code = NULL, error_message = NULL WHERE ${reopened}`)
      .run(messageId, chatId, owner, content, chatId)
    if (changedRows(res) === 0) return undefined
    await db.prepare('UPDATE chats SET updated_at = ? WHERE id = ? AND owner = ?').run(now, chatId, owner)
    return this.get(owner, chatId, messageId)
  },

  /**
   * What the model is asked: the chat so far, without answers that produced nothing; questions
   * with their attachments (metadata: the bytes are read for the turns that are sent).
   */
  async history(owner: string, chatId: string, beforeMessageId: string): Promise<HistoryTurn[]> {
    const db = await useDb()
    const rows = await db.prepare(`SELECT id, role, content FROM messages WHERE chat_id = ? AND owner = ?
      AND position < (SELECT position FROM messages WHERE id = ?) ORDER BY position`).all(chatId, owner, beforeMessageId) as Pick<MessageRow, 'id' | 'role' | 'content'>[]
    const files = await attachmentStore.ofMessages(rows.filter(r => r.role === 'user').map(r => r.id))
    return rows.flatMap((r): HistoryTurn[] => {
      const attachments = files.get(r.id)
      if (!r.content.length && !attachments) return []
      return [{ role: r.role, content: r.content, ...(attachments ? { attachments } : {}) }]
    })
  },

  /** Marks a pending answer as streaming; false when someone else already took it. */
  async claim(messageId: string): Promise<boolean> {
    return await runWrite([`UPDATE messages SET status = 'streaming', heartbeat_at = ? WHERE id = ? AND status = 'pending'`, Date.now(), messageId]) > 0
  },

  /**
   * Saves the text of running answers, PROGRESS_CHUNK of them per transaction. Answers, per item,
   * whether it was still running (0: it was stopped or ended by someone else meanwhile). Throws on
   * the first chunk the database refuses; the chunks before it are saved.
   */
  async saveProgress(items: ({ id: string } & AnswerText)[]): Promise<number[]> {
    if (!items.length) return []
    const db = await useDb()
    const update = `UPDATE messages SET content = ?, reasoning = ?, reasoning_ms = ?, status = 'streaming', heartbeat_at = ? WHERE id = ? AND status IN ('pending', 'streaming')`
    const now = Date.now()
    const changed: number[] = []
    for (let i = 0; i < items.length; i += PROGRESS_CHUNK) {
      const chunk = items.slice(i, i + PROGRESS_CHUNK)
      changed.push(...await runBatch(db, chunk.map((item): Statement => [update, item.content, item.reasoning || null, item.reasoningMs ?? null, now, item.id])))
    }
    return changed
  },

  /** Says that the writer of a running answer is alive without new text; false when the answer is no longer running. */
  async touch(messageId: string): Promise<boolean> {
    return await runWrite([`UPDATE messages SET heartbeat_at = ? WHERE id = ? AND status IN ('pending', 'streaming')`, Date.now(), messageId]) > 0
  },

  /**
   * Ends a running answer that its writer does not end (stopped from elsewhere, or its writer went
   * away), keeping its saved text and usage. With `heartbeatAt`, only if its writer has not saved
   * since that heartbeat was read. False when it was not running (or was saved meanwhile).
   */
  async endRunning(messageId: string, final: { status: MessageStatus, error?: MessageError }, heartbeatAt?: number): Promise<boolean> {
    const guard = heartbeatAt === undefined ? '' : ' AND COALESCE(heartbeat_at, 0) = ?'
    return await runWrite([`UPDATE messages SET status = ?, error_code = ?, error_message = ? WHERE id = ? AND status IN ('pending', 'streaming')${guard}`,
      final.status, final.error?.code ?? null, final.error?.message ?? null, messageId, ...(heartbeatAt === undefined ? [] : [heartbeatAt])]) > 0
  },

  /**
   * The writer of an answer stopped from elsewhere stores the text its readers got (more than it
   * had saved when the stop came), only while the answer is still stopped with the text it saved.
   */
  async completeStopped(messageId: string, text: AnswerText, saved: string, usage?: Usage): Promise<boolean> {
    return await runWrite([`UPDATE messages SET content = ?, reasoning = COALESCE(?, reasoning), reasoning_ms = COALESCE(?, reasoning_ms),
      prompt_tokens = COALESCE(?, prompt_tokens), completion_tokens = COALESCE(?, completion_tokens), reasoning_tokens = COALESCE(?, reasoning_tokens)
      WHERE id = ? AND status = 'stopped' AND content = ?`, text.content, text.reasoning || null, text.reasoningMs ?? null,
    usage?.promptTokens ?? null, usage?.completionTokens ?? null, usage?.reasoningTokens ?? null, messageId, saved]) > 0
  },

  /**
   * Stores an answer's final state. With `onlyIf`, only while its status is one of those (so a
   * late stop or a recovery never overwrites an answer that has ended meanwhile); false if not.
   */
  async finish(messageId: string, final: AnswerText & { status: MessageStatus, error?: MessageError, usage?: Usage }, onlyIf?: MessageStatus[]): Promise<boolean> {
    const guard = onlyIf?.length ? ` AND status IN (${onlyIf.map(() => '?').join(', ')})` : ''
    return await runWrite([`UPDATE messages SET content = ?, reasoning = ?, reasoning_ms = ?, status = ?, error_code = ?, error_message = ?,
      prompt_tokens = ?, completion_tokens = ?, reasoning_tokens = ? WHERE id = ?${guard}`,
    final.content, final.reasoning || null, final.reasoningMs ?? null, final.status, final.error?.code ?? null, final.error?.message ?? null,
    final.usage?.promptTokens ?? null, final.usage?.completionTokens ?? null, final.usage?.reasoningTokens ?? null, messageId, ...(onlyIf ?? [])]) > 0
  },

  /** Every answer still marked running, on any instance (boot recovery asks the run registry which of them nobody writes). */
  async unfinished(): Promise<string[]> {
    const db = await useDb()
    const rows = await db.prepare(`SELECT id FROM messages WHERE status IN ('pending', 'streaming')`).all() as { id: string }[]
    return rows.map(r => r.id)
  },

  /** An answer's stored text, status and usage by its id alone: for the run registry, never for a request. */
  async state(messageId: string): Promise<SavedAnswer | undefined> {
    const db = await useDb()
    const row = await db.prepare(`SELECT content, reasoning, reasoning_ms, status, error_code, error_message, prompt_tokens, completion_tokens, reasoning_tokens, heartbeat_at
      FROM messages WHERE id = ?`).get(messageId) as Pick<MessageRow, 'content' | 'reasoning' | 'reasoning_ms' | 'status' | 'error_code' | 'error_message'
      | 'prompt_tokens' | 'completion_tokens' | 'reasoning_tokens' | 'heartbeat_at'> | undefined
    if (!row) return undefined
    const usage = usageOf(row)
    return {
      content: row.content,
      ...(row.reasoning ? { reasoning: row.reasoning } : {}),
      ...(row.reasoning_ms == null ? {} : { reasoningMs: Number(row.reasoning_ms) }),
      status: row.status,
      ...(usage ? { usage } : {}),
      ...(row.error_code ? { error: { code: row.error_code, message: row.error_message ?? '' } } : {}),
      ...(row.heartbeat_at == null ? {} : { heartbeatAt: Number(row.heartbeat_at) }),
    }
  },
}

function newChatRow(owner: string, id: string, title: string): ChatRow {
  const now = Date.now()
  return { id, owner, title, model: null, system_prompt: null, temperature: null, created_at: now, updated_at: now }
}

function insertChat(row: ChatRow, titleSource: TitleSource): Statement {
  return ['INSERT INTO chats (id, owner, title, title_source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', row.id, row.owner, row.title, titleSource, row.created_at, row.updated_at]
}

export interface Exchange { userMessage: Message, assistantMessage: Message }

/** A turn of the conversation as the model is sent it. */
export interface HistoryTurn { role: 'user' | 'assistant', content: string, attachments?: Attachment[] }

/** A question's attachments on the messages that are questions (one query for all). */
async function withAttachments(messages: Message[]): Promise<Message[]> {
  const files = await attachmentStore.ofMessages(messages.filter(m => m.role === 'user').map(m => m.id))
  if (!files.size) return messages
  return messages.map((m) => {
    const attachments = files.get(m.id)
    return attachments ? { ...m, attachments } : m
  })
}

/** What a chat's automatic title is made from: the question, or for files alone the first file's name. */
function titleBasis(content: string, attachments: Attachment[]): string {
  return content.trim() || attachments[0]?.name || content
}

/** The statements that append a question (and links its files) and its `pending` answer to `chat`. */
function exchangeStatements(owner: string, chat: Chat, content: string, model: string, assistantId: string, rememberModel: boolean, attachments: Attachment[] = []): { statements: Statement[], exchange: Exchange & { chat: Chat } } {
  const now = Date.now()
  const insert = `INSERT INTO messages (id, chat_id, owner, position, role, content, status, model, created_at)
    VALUES (?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM messages WHERE chat_id = ?), ?, ?, ?, ?, ?)`
  const user: MessageRow = emptyRow(owner, chat.id, 'user', content, 'done', now)
  const assistant: MessageRow = { ...emptyRow(owner, chat.id, 'assistant', '', 'pending', now), id: assistantId, model }
  const title = chat.title === DEFAULT_TITLE ? titleFrom(titleBasis(content, attachments)) : chat.title
  const statements: Statement[] = [
    ...[user, assistant].map((m): Statement => [insert, m.id, m.chat_id, owner, m.chat_id, m.role, m.content, m.status, m.model, m.created_at]),
    ...linkAttachments(owner, chat.id, user.id, attachments.map(file => file.id)),
    // A title cut from this message is automatic again (a generated one may follow).
    chat.title === DEFAULT_TITLE
      ? ['UPDATE chats SET updated_at = ?, title = ?, title_source = NULL WHERE id = ? AND owner = ?', now, title, chat.id, owner]
      : ['UPDATE chats SET updated_at = ? WHERE id = ? AND owner = ?', now, chat.id, owner],
  ]
  if (rememberModel) statements.push(['UPDATE chats SET model = ? WHERE id = ? AND owner = ?', model, chat.id, owner])
  // The chat as these statements leave it.
  const after: Chat = { ...chat, title, updatedAt: iso(now), ...(rememberModel ? { model } : {}) }
  const userMessage = { ...toMessage(user), ...(attachments.length ? { attachments } : {}) }
  return { statements, exchange: { chat: after, userMessage, assistantMessage: toMessage(assistant) } }
}

function emptyRow(owner: string, chatId: string, role: 'user' | 'assistant', content: string, status: MessageStatus, now: number): MessageRow {
  return {
    id: newId(), chat_id: chatId, owner, position: 0, role, content, status,
    error_code: null, error_message: null, model: null, prompt_tokens: null, completion_tokens: null, created_at: now,
  }
}
