import { describe, expect, it } from 'vitest'
import { cutAtWord, DERIVED_TITLE_LENGTH, titleFrom } from '../../shared/titles'
import { cleanTitle } from '../../server/generation/titles'

describe('titleFrom (the title derived from a first question, on the server and in the client)', () => {
  it('keeps a short first line as it is, without the lines after it', () => {
    expect(titleFrom('  How do I stream?\nWith details please.')).toBe('How do I stream?')
  })

  it('folds runs of spaces and tabs', () => {
    expect(titleFrom('Tabs\tand   spaces')).toBe('Tabs and spaces')
  })

  it('cuts a long line at a word, with an ellipsis, 60 characters at most', () => {
    const long = `Explain ${'very '.repeat(30)}carefully how tides work`
    const title = titleFrom(long)
    expect(title).toBe(`Explain ${'very '.repeat(9)}very…`)
    expect(title.length).toBeLessThanOrEqual(DERIVED_TITLE_LENGTH)
  })

  it('cuts a long word mid-word when no space comes after the 20th character', () => {
    const title = titleFrom(`Short ${'x'.repeat(100)}`)
    expect(title).toBe(`Short ${'x'.repeat(53)}…`)
    expect(title).toHaveLength(DERIVED_TITLE_LENGTH)
  })
})

describe('cutAtWord', () => {
  it('keeps a word that ends exactly at the limit', () => {
    expect(cutAtWord(`${'a'.repeat(25)} ${'b'.repeat(4)} more`, 30)).toBe(`${'a'.repeat(25)} ${'b'.repeat(4)}`)
  })
})

describe('cleanTitle (a model\'s reply made into a title)', () => {
  it('drops quotes, markup, a "Title:" prefix and final punctuation', () => {
    expect(cleanTitle('Title: **"Best hiking trails in the Alps."**\n')).toBe('Best hiking trails in the Alps')
  })

  it('cuts a long reply at a word without an ellipsis', () => {
    const title = cleanTitle(`${'word '.repeat(20)}end`)
    expect(title.length).toBeLessThanOrEqual(60)
    expect(title.endsWith('word')).toBe(true)
  })
})
