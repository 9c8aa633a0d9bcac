/**
 * Where a reader is in an answer's stream: the frame `id` (docs/reasoning.md). An answer has two
 * texts that grow apart, the answer and the model's reasoning, each measured in UTF-16 code units
 * (JavaScript string length, as CONTRACT.md's offsets). The id is `<answer>` while the reasoning is
 * empty (an answer without reasoning keeps the contract's ids exactly), then `<answer>,<reasoning>`.
 */
export interface StreamPosition {
  answer: number
  reasoning: number
}

/** Longest offset either part may have (nine digits, as CONTRACT.md's offsets). */
const PART = /^\d{1,9}$/

export function formatStreamId(position: StreamPosition): string {
  return position.reasoning > 0 ? `${position.answer},${position.reasoning}` : String(position.answer)
}

/**
 * A frame id as `Last-Event-ID` or `?offset=` gives it back; undefined when malformed. An id with
 * no reasoning part means no reasoning was read yet (0): a client that never saw reasoning is sent
 * all of it (it ignores frames it does not know).
 */
export function parseStreamId(raw: string): StreamPosition | undefined {
  const parts = raw.trim().split(',')
  if (parts.length > 2 || !parts.every(part => PART.test(part))) return undefined
  return { answer: Number(parts[0]), reasoning: parts.length === 2 ? Number(parts[1]) : 0 }
}
