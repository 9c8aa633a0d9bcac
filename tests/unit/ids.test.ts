import { describe, expect, it } from 'vitest'
import { newId } from '../../server/utils/ids'

describe('newId', () => {
  it('is 128 random bits as 22 base64url characters, and never repeats', () => {
    const ids = Array.from({ length: 5000 }, () => newId())
    for (const id of ids) {
      expect(id).toMatch(/^[\w-]{22}$/)
      // The last character carries 2 bits: one of the 4 that base64url allows there.
      expect('AQgw').toContain(id[21])
      expect(Buffer.from(id, 'base64url')).toHaveLength(16)
      expect(Buffer.from(id, 'base64url').toString('base64url')).toBe(id)
    }
    expect(new Set(ids).size).toBe(ids.length)
    // Every character position varies (not a counter).
    for (let i = 0; i < 22; i++) expect(new Set(ids.map(id => id[i])).size).toBeGreaterThan(3)
  })
})
