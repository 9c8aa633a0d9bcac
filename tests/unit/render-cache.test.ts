import { describe, expect, it } from 'vitest'
import { RENDER_CACHE_SIZE, SizedCache } from '../../app/utils/math'

describe('SizedCache (the typeset formulas and highlighted code every visitor shares on the server)', () => {
  it('holds at most its size in key and value lengths, however few the entries', () => {
    const cache = new SizedCache<string>(1000)
    // Ten entries of about 300: by count (the old 32 or 1024) all would stay.
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, 'x'.repeat(298))
    expect(cache.size).toBeLessThanOrEqual(1000)
    expect(cache.count).toBe(3)
    expect(cache.get('k9')).toBe('x'.repeat(298))
    expect(cache.get('k0')).toBeUndefined()
  })

  it('evicts the least recently used first; a read counts as a use', () => {
    const cache = new SizedCache<string>(30)
    cache.set('a', 'a'.repeat(9))
    cache.set('b', 'b'.repeat(9))
    cache.set('c', 'c'.repeat(9))
    expect(cache.size).toBe(30)
    expect(cache.get('a')).toBe('a'.repeat(9))
    cache.set('d', 'd'.repeat(9))
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')).toBe('a'.repeat(9))
    expect(cache.get('c')).toBe('c'.repeat(9))
    expect(cache.get('d')).toBe('d'.repeat(9))
    expect(cache.size).toBe(30)
  })

  it('does not keep an entry larger than the whole bound, nor let it evict the others', () => {
    const cache = new SizedCache<string>(100)
    cache.set('small', 'ok')
    cache.set('huge', 'x'.repeat(200))
    expect(cache.get('huge')).toBeUndefined()
    expect(cache.get('small')).toBe('ok')
    expect(cache.size).toBe(7)
  })

  it('counts a replaced value once, and keeps failures (null) with the length of their key', () => {
    const cache = new SizedCache<string | null>(100)
    cache.set('k', 'abc')
    cache.set('k', 'abcdef')
    expect(cache.size).toBe(7)
    cache.set('bad', null)
    expect(cache.get('bad')).toBeNull()
    expect(cache.size).toBe(10)
  })

  it('defaults to 8 MB of text per cache', () => {
    expect(RENDER_CACHE_SIZE).toBe(8 * 1024 * 1024)
  })
})
