import type { SQLDialect } from 'db0'

/**
 * The schema, as numbered migrations: each runs once, in a transaction, and is recorded in
 * `flume_migrations`. Plain SQL that SQLite, PostgreSQL and D1 all accept (TEXT ids, BIGINT epoch
 * milliseconds, REAL: see `forDialect`). Append only: a migration that has shipped is never edited.
 */
export const MIGRATIONS: string[][] = [
  [
    `CREATE TABLE IF NOT EXISTS chats (
      id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      title TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS chats_owner_updated ON chats (owner, updated_at)`,
    `CREATE TABLE IF NOT EXISTS messages (
      id TEXT PRIMARY KEY,
      chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      owner TEXT NOT NULL,
      position INTEGER NOT NULL,
      role TEXT NOT NULL,
      content TEXT NOT NULL,
      status TEXT NOT NULL,
      error_code TEXT,
      error_message TEXT,
      model TEXT,
      prompt_tokens INTEGER,
      completion_tokens INTEGER,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS messages_chat_position ON messages (chat_id, position)`,
    `CREATE INDEX IF NOT EXISTS messages_status ON messages (status)`,
  ],
  // 2: the model picked for a chat, used by its next messages (NULL: the server's default).
  [
    `ALTER TABLE chats ADD COLUMN model TEXT`,
  ],
  // 3: per-chat generation settings (NULL: none / the model's default).
  [
    `ALTER TABLE chats ADD COLUMN system_prompt TEXT`,
    `ALTER TABLE chats ADD COLUMN temperature REAL`,
  ],
  // 4: where the title came from: NULL automatic (first words), 'generated' (by the model), 'user'.
  [
    `ALTER TABLE chats ADD COLUMN title_source TEXT`,
  ],
  // 5: when the writer of a running answer last saved it (epoch ms; NULL: nobody claimed it). On
  // the edge, where no process outlives its requests, a silent one means its writer is gone.
  [
    `ALTER TABLE messages ADD COLUMN heartbeat_at BIGINT`,
  ],
]

/**
 * A migration's statement as `dialect` runs it. `REAL` is an 8-byte float in SQLite (and D1) but a
 * 4-byte one in PostgreSQL, where a temperature of 0.7 would read back as 0.699999988: there it
 * is DOUBLE PRECISION, the same 8 bytes. Every PostgreSQL database Flume made was made this way.
 */
export function forDialect(sql: string, dialect: SQLDialect): string {
  return dialect === 'postgresql' ? sql.replace(/\bREAL\b/g, 'DOUBLE PRECISION') : sql
}
