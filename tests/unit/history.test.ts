import { describe, expect, it } from 'vitest'
import { historyStart } from '../../shared/history'
import { withinBudget } from '../../server/generation/prompt'

const user = (content: string) => ({ role: 'user' as const, content })
const answer = (content: string) => ({ role: 'assistant' as const, content })

describe('historyStart', () => {
  const chat = [user('aaaa'), answer('bbbb'), user('cccc'), answer('dddd'), user('question')]

  it('sends everything when it fits, or when there is no budget (0)', () => {
    expect(historyStart(chat, 1000)).toBe(0)
    expect(historyStart(chat, 24)).toBe(0)
    expect(historyStart(chat, 0)).toBe(0)
  })

  it('keeps the newest whole turns that fit with the question, never starting with an answer', () => {
    // question (8) + dddd + cccc = 16: fits; + bbbb = 20 would fit at 20 but starts with an answer.
    expect(historyStart(chat, 16)).toBe(2)
    expect(historyStart(chat, 20)).toBe(2)
    expect(historyStart(chat, 23)).toBe(2)
    // question + dddd fit, but the history would start with the answer: the question alone.
    expect(historyStart(chat, 12)).toBe(4)
  })

  it('sends the question alone when it is longer than the budget by itself', () => {
    expect(historyStart(chat, 5)).toBe(4)
    expect(historyStart([user('x'.repeat(100))], 10)).toBe(0)
  })

  it('never cuts inside a turn, and counts JavaScript string length', () => {
    const emoji = [user('👋🏽👋🏽'), answer('ok'), user('hi')]
    // '👋🏽👋🏽' is 8 UTF-16 units: 8 + 2 + 2 = 12.
    expect(historyStart(emoji, 12)).toBe(0)
    expect(historyStart(emoji, 11)).toBe(2)
  })

  it('handles an empty list and an answer-only list', () => {
    expect(historyStart([], 10)).toBe(0)
    expect(historyStart([answer('abc')], 10)).toBe(0)
  })
})

describe('withinBudget', () => {
  it('gives the model the turns from historyStart on', () => {
    const chat = [user('aaaa'), answer('bbbb'), user('cccc'), answer('dddd'), user('question')]
    expect(withinBudget(chat, 16)).toEqual(chat.slice(2))
    expect(withinBudget(chat, 0)).toBe(chat)
  })
})
