import { attachmentUrl, type Attachment, type AttachmentKind } from '#shared/schemas'
import { runBatch, runWrite, useDb, type Statement } from './db'

interface AttachmentRow {
  id: string
  message_id: string | null
  kind: AttachmentKind
  media_type: string
  name: string
  size: number
}

/** An upload never sent with a question is removed after this long. */
export const UNSENT_TTL_MS = 24 * 60 * 60 * 1000

const META = 'id, message_id, kind, media_type, name, size'

function toAttachment(row: AttachmentRow): Attachment {
  return { id: row.id, name: row.name, mediaType: row.media_type, kind: row.kind, size: Number(row.size), url: attachmentUrl(row.id) }
}

/** `?, ?, ?` for `n` parameters. */
const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ')

/**
 * Files attached to questions (docs/attachments.md). Owned by an identity like everything else:
 * every query takes the owner, and another identity's files are invisible. Uploaded first, then
 * linked to the question that sends them; the chat's deletion takes them along.
 */
export const attachmentStore = {
  /** Stores an upload (not yet sent with any question); a day-old unsent upload of the owner goes. */
  async create(owner: string, file: { id: string, kind: AttachmentKind, mediaType: string, name: string, bytes: Uint8Array }): Promise<Attachment> {
    const now = Date.now()
    const data = Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength).toString('base64')
    await runBatch(await useDb(), [
      ['DELETE FROM attachments WHERE owner = ? AND message_id IS NULL AND created_at < ?', owner, now - UNSENT_TTL_MS],
      ['INSERT INTO attachments (id, owner, kind, media_type, name, size, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        file.id, owner, file.kind, file.mediaType, file.name, file.bytes.byteLength, data, now],
    ])
    return toAttachment({ id: file.id, message_id: null, kind: file.kind, media_type: file.mediaType, name: file.name, size: file.bytes.byteLength })
  },

  /** An attachment and its bytes, for its owner only. */
  async read(owner: string, id: string): Promise<{ attachment: Attachment, bytes: Buffer } | undefined> {
    const db = await useDb()
    const row = await db.prepare(`SELECT ${META}, data FROM attachments WHERE id = ? AND owner = ?`).get(id, owner) as (AttachmentRow & { data: string }) | undefined
    return row ? { attachment: toAttachment(row), bytes: Buffer.from(row.data, 'base64') } : undefined
  },

  /** How many uploads the owner has that were not sent yet, and their bytes. */
  async unsent(owner: string): Promise<{ count: number, bytes: number }> {
    const db = await useDb()
    const row = await db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM attachments WHERE owner = ? AND message_id IS NULL AND created_at >= ?')
      .get(owner, Date.now() - UNSENT_TTL_MS) as { n: number | string, bytes: number | string }
    return { count: Number(row.n), bytes: Number(row.bytes) }
  },

  /** Removes an upload not sent yet (taken out of the composer); false if there is none. */
  async removeUnsent(owner: string, id: string): Promise<boolean> {
    return await runWrite(['DELETE FROM attachments WHERE id = ? AND owner = ? AND message_id IS NULL', id, owner]) > 0
  },

  /** The owner's attachments among `ids` that are unsent, or sent with `message` (an edited question keeps its own). */
  async usable(owner: string, ids: string[], message?: string): Promise<Attachment[]> {
    if (!ids.length) return []
    const db = await useDb()
    const rows = await db.prepare(`SELECT ${META} FROM attachments WHERE owner = ? AND id IN (${marks(ids.length)})
      AND (message_id IS NULL${message ? ' OR message_id = ?' : ''})`).all(owner, ...ids, ...(message ? [message] : [])) as AttachmentRow[]
    return rows.map(toAttachment)
  },

  /** Each message's attachments, in the order they were given (metadata only). */
  async ofMessages(messageIds: string[]): Promise<Map<string, Attachment[]>> {
    const out = new Map<string, Attachment[]>()
    if (!messageIds.length) return out
    const db = await useDb()
    const rows = await db.prepare(`SELECT ${META} FROM attachments WHERE message_id IN (${marks(messageIds.length)}) ORDER BY message_id, position`)
      .all(...messageIds) as AttachmentRow[]
    for (const row of rows) {
      const list = out.get(row.message_id!) ?? []
      list.push(toAttachment(row))
      out.set(row.message_id!, list)
    }
    return out
  },

  /** The bytes of attachments, base64, by id (what a model is sent). */
  async data(ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map()
    const db = await useDb()
    const rows = await db.prepare(`SELECT id, data FROM attachments WHERE id IN (${marks(ids.length)})`).all(...ids) as { id: string, data: string }[]
    return new Map(rows.map(row => [row.id, row.data]))
  },
}

/** Links `ids`, in this order, to a question of `chatId`: part of the transaction that stores it. */
export function linkAttachments(owner: string, chatId: string, messageId: string, ids: string[]): Statement[] {
  return ids.map((id, position): Statement => [
    'UPDATE attachments SET chat_id = ?, message_id = ?, position = ? WHERE id = ? AND owner = ?', chatId, messageId, position, id, owner,
  ])
}
