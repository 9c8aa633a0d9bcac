import { IMAGE_HISTORY_CHARS } from './attachments'

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
 * `size` is what a message counts for: its text's length, unless told otherwise (attachments:
 * `attachedSize`).
 */
export function historyStart<T extends Pick<Turn, 'role'>>(messages: readonly T[], budget: number, size: (message: T) => number = textSize): number {
  const last = messages.length - 1
  if (budget <= 0 || last < 0) return 0
  let used = size(messages[last]!)
  let start = last
  while (start > 0 && used + size(messages[start - 1]!) <= budget) {
    start--
    used += size(messages[start]!)
  }
  while (start < last && messages[start]!.role === 'assistant') start++
  return start
}

function textSize(message: unknown): number {
  return (message as Pick<Turn, 'content'>).content.length
}

/**
 * What a message with attachments counts for: its text, its text files' bytes (about their
 * characters) and IMAGE_HISTORY_CHARS per image.
 */
export function attachedSize(message: { content: string, attachments?: readonly { kind: string, size: number }[] }): number {
  let size = message.content.length
  for (const file of message.attachments ?? []) size += file.kind === 'image' ? IMAGE_HISTORY_CHARS : file.size
  return size
}
