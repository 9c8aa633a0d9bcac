import { describe, expect, it } from 'vitest'
import { forDialect, MIGRATIONS } from '../../server/storage/migrations'
import { toPositional } from '../../server/storage/postgres'

describe('SQL for PostgreSQL', () => {
  it('numbers ? placeholders in order, leaving quoted ones alone', () => {
    expect(toPositional('SELECT * FROM chats WHERE id = ? AND owner = ?')).toBe('SELECT * FROM chats WHERE id = $1 AND owner = $2')
    expect(toPositional(`UPDATE t SET a = 'why?', "b?" = ? WHERE c = 'it''s ?' AND d = ?`)).toBe(`UPDATE t SET a = 'why?', "b?" = $1 WHERE c = 'it''s ?' AND d = $2`)
    expect(toPositional(`SELECT 1 WHERE x LIKE REPLACE(LOWER(?), 'ς', 'σ') ESCAPE '\\'`)).toBe(`SELECT 1 WHERE x LIKE REPLACE(LOWER($1), 'ς', 'σ') ESCAPE '\\'`)
  })

  it('makes REAL columns 8-byte floats on PostgreSQL only, as REAL is on SQLite', () => {
    const real = MIGRATIONS.flat().find(sql => /\bREAL\b/.test(sql))!
    expect(forDialect(real, 'postgresql')).toBe('ALTER TABLE chats ADD COLUMN temperature DOUBLE PRECISION')
    expect(forDialect(real, 'sqlite')).toBe(real)
    expect(forDialect('ALTER TABLE chats ADD COLUMN realm TEXT', 'postgresql')).toBe('ALTER TABLE chats ADD COLUMN realm TEXT')
  })
})
