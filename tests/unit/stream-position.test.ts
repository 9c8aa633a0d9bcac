import { describe, expect, it } from 'vitest'
import { formatFrameId, parseFrameId, unseenText } from '../../app/utils/stream-position'

describe('frame ids on the client (app/utils/stream-position.ts)', () => {
  it('reads the answer offset a frame id names, and writes it back as ?offset=', () => {
    expect(parseFrameId('42')).toEqual({ answer: 42 })
    expect(formatFrameId({ answer: 42 })).toBe('42')
    expect(formatFrameId(parseFrameId('0')!)).toBe('0')
  })

  it('names no position for an empty or malformed id', () => {
    expect(parseFrameId('')).toBeUndefined()
    expect(parseFrameId('abc')).toBeUndefined()
  })

  it('reads the answer part of an id that carries more parts after a comma', () => {
    expect(parseFrameId('12,5')).toEqual({ answer: 12 })
  })
})

describe('unseenText', () => {
  it('keeps all of a frame that starts where the received text ends', () => {
    expect(unseenText('lo!', 6, 3)).toBe('lo!')
  })

  it('drops the part of a frame received before (a reconnect sent it again)', () => {
    // Received "Hello" (5); the frame "llo wo" ends at 8: only " wo" is new.
    expect(unseenText('llo wo', 8, 5)).toBe(' wo')
  })

  it('drops a frame received entirely before', () => {
    expect(unseenText('Hel', 3, 5)).toBe('')
  })

  it('keeps all of a frame whose end is unknown', () => {
    expect(unseenText('abc', undefined, 10)).toBe('abc')
  })
})
