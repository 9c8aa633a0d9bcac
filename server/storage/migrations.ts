import type { SQLDialect } from 'db0'

/** A statement that starts with one of these runs on that dialect only (a no-op on the others). */
const ONLY_SQLITE = '-- only sqlite\n'
const ONLY_POSTGRESQL = '-- only postgresql\n'

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
  // 6: a heavy history stays fast (docs/paging.md). The chat list's order as an
  // index, so a page is read from where the previous one ended. Search by index: on SQLite (and
  // D1) an FTS5 table of trigrams of every final message, kept by triggers (its own copy of the text
  // and of chat_id/owner, so a VACUUM that renumbers rowids cannot make it answer another chat); on
  // PostgreSQL pg_trgm GIN indexes on the folded text that LIKE searches (skipped, with a notice,
  // where the extension cannot be created: search then reads every message, as before). A running
  // answer (pending, streaming) is indexed once, when it ends, not at each progress save (about
  // once a second, each one the whole text again): search reads the few running ones directly.
  [
    `CREATE INDEX IF NOT EXISTS chats_owner_recent ON chats (owner, updated_at, created_at, id)`,
    `${ONLY_SQLITE}CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(content, chat_id UNINDEXED, owner UNINDEXED, tokenize = 'trigram')`,
    `${ONLY_SQLITE}INSERT INTO messages_fts (rowid, content, chat_id, owner) SELECT rowid, content, chat_id, owner FROM messages WHERE status NOT IN ('pending', 'streaming')`,
    `${ONLY_SQLITE}CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages WHEN new.status NOT IN ('pending', 'streaming') BEGIN
      INSERT INTO messages_fts (rowid, content, chat_id, owner) VALUES (new.rowid, new.content, new.chat_id, new.owner);
    END`,
    // Final to final with new text (a stopped answer completed), running to final (indexed), final
    // to running (Continue: out of the index until it ends again); running to running: nothing.
    `${ONLY_SQLITE}CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF content, status ON messages
      WHEN (old.status NOT IN ('pending', 'streaming')) IS NOT (new.status NOT IN ('pending', 'streaming'))
        OR (new.status NOT IN ('pending', 'streaming') AND new.content IS NOT old.content) BEGIN
      DELETE FROM messages_fts WHERE rowid = old.rowid;
      INSERT INTO messages_fts (rowid, content, chat_id, owner) SELECT new.rowid, new.content, new.chat_id, new.owner WHERE new.status NOT IN ('pending', 'streaming');
    END`,
    `${ONLY_SQLITE}CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
      DELETE FROM messages_fts WHERE rowid = old.rowid;
    END`,
    `${ONLY_POSTGRESQL}DO $$ BEGIN
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'pg_trgm is not available (%): search reads every message', SQLERRM;
    END $$`,
    // Partial: a progress save of a running answer extracts no trigrams (a search must say
    // that status condition to be served by it; search.ts reads running answers apart).
    `${ONLY_POSTGRESQL}DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX IF NOT EXISTS messages_content_trgm ON messages USING gin ((REPLACE(LOWER(content), ''ς'', ''σ'')) gin_trgm_ops) WHERE status NOT IN (''pending'', ''streaming'')';
        EXECUTE 'CREATE INDEX IF NOT EXISTS chats_title_trgm ON chats USING gin ((REPLACE(LOWER(title), ''ς'', ''σ'')) gin_trgm_ops)';
      END IF;
    END $$`,
  ],
  // 7: a model's reasoning, kept apart from its answer (docs/reasoning.md): its text (NULL: none),
  // how long it thought before answering, and the reasoning tokens its server reported.
  [
    `ALTER TABLE messages ADD COLUMN reasoning TEXT`,
    `ALTER TABLE messages ADD COLUMN reasoning_ms BIGINT`,
    `ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER`,
  ],
  // 8: files attached to questions (docs/attachments.md). Uploaded first (chat_id and message_id
  // NULL, removed after a day if never sent), then linked to the question that sends them; gone
  // with their chat. The bytes are base64 text: one column type that SQLite, PostgreSQL and D1
  // bind alike, and the form an image is sent to the model in.
  [
    `CREATE TABLE IF NOT EXISTS attachments (
      id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      chat_id TEXT REFERENCES chats (id) ON DELETE CASCADE,
      message_id TEXT,
      kind TEXT NOT NULL,
      media_type TEXT NOT NULL,
      name TEXT NOT NULL,
      size INTEGER NOT NULL,
      position INTEGER,
      data TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS attachments_message ON attachments (message_id)`,
    `CREATE INDEX IF NOT EXISTS attachments_owner_created ON attachments (owner, created_at)`,
  ],
]

/**
 * A migration's statement as `dialect` runs it. `REAL` is an 8-byte float in SQLite (and D1) but a
 * 4-byte one in PostgreSQL, where a temperature of 0.7 would read back as 0.699999988: there it
 * is DOUBLE PRECISION, the same 8 bytes. Every PostgreSQL database Flume made was made this way.
 */
export function forDialect(sql: string, dialect: SQLDialect): string {
  const only = /^-- only (\w+)\n/.exec(sql)?.[1]
  if (only && only !== dialect) return 'SELECT 1'
  return dialect === 'postgresql' ? sql.replace(/\bREAL\b/g, 'DOUBLE PRECISION') : sql
}
