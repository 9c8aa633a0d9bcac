/**
 * How much of a conversation the model is shown with a question (FLUME_HISTORY_CHARS;
 * docs/answer-limits.md). The server trims with it; a client can call it on the messages it
 * shows to mark where the model's view starts.
 */

export interface Turn {
  role: 'system' | 'user' | 'assistant'
  content: string
}

/**
 * Index of the oldest message sent with the question: `messages` ends with the question, which is
 * always sent (alone when it is longer than `budget` by itself); before it, the newest turns whose
 * characters (JavaScript string length) fit in `budget` together with it, whole turns only; and
 * the history never starts with an answer, whose question would be missing. `budget` 0: all of it.
 */
export function historyStart(messages: readonly Pick<Turn, 'role' | 'content'>[], budget: number): number {
  const last = messages.length - 1
  if (budget <= 0 || last < 0) return 0
  let used = messages[last]!.content.length
  let start = last
  while (start > 0 && used + messages[start - 1]!.content.length <= budget) {
    start--
    used += messages[start]!.content.length
  }
  while (start < last && messages[start]!.role === 'assistant') start++
  return start
}
