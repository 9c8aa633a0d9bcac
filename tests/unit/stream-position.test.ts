import { describe, expect, it } from 'vitest'
import { unseenText } from '../../app/utils/stream-position'

describe('unseenText (what a frame adds to the text a client has)', () => {
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
