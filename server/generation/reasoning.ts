/**
 * Where OpenAI-compatible servers put a model's reasoning (docs/reasoning.md), read apart from its
 * answer: `delta.reasoning_content` (DeepSeek, vLLM, llama.cpp), `delta.reasoning` (Ollama,
 * OpenRouter, newer vLLM), or `<think>...</think>` at the start of `delta.content` (servers that
 * pass the model's raw output through).
 */

const OPEN = '<think>'
const CLOSE = '</think>'

/** Which field of the delta carries reasoning; some servers send both with the same text. */
export type ReasoningField = 'reasoning_content' | 'reasoning'

/**
 * The reasoning of one delta. A stream sticks to the first field that carried any: servers that
 * fill both (vLLM during its rename) repeat the same text in each, which must not count twice.
 */
export function reasoningOf(delta: Record<string, unknown>, field: { current?: ReasoningField }): string {
  if (field.current) {
    const value = delta[field.current]
    return typeof value === 'string' ? value : ''
  }
  for (const name of ['reasoning_content', 'reasoning'] as const) {
    const value = delta[name]
    if (typeof value === 'string' && value) {
      field.current = name
      return value
    }
  }
  return ''
}

/**
 * Splits `content` deltas into reasoning and answer when the model's output starts with a
 * `<think>` block. Tags may be cut anywhere across deltas: text that could still be the start of
 * a tag is held back until the next delta tells. Content that does not start with `<think>`
 * (leading whitespace aside) is all answer, and a `<think>` later in an answer is answer text.
 */
export class ThinkSplitter {
  private state: 'start' | 'think' | 'after' | 'answer' = 'start'
  private held = ''

  /** Past any block: everything from now on is answer, as it comes (the hot path skips push()). */
  get answering(): boolean {
    return this.state === 'answer'
  }

  /** The parts of `content`, in order; either may be empty. */
  push(content: string): { reasoning: string, answer: string } {
    let text = this.held + content
    this.held = ''
    let reasoning = ''
    let answer = ''
    for (;;) {
      if (this.state === 'answer') {
        answer += text
        break
      }
      if (this.state === 'start') {
        const start = text.trimStart()
        if (start.startsWith(OPEN)) {
          this.state = 'think'
          text = start.slice(OPEN.length)
          continue
        }
        // Could still become `<think>` (or is only whitespace so far): wait for more.
        if (OPEN.startsWith(start)) {
          this.held = text
          break
        }
        this.state = 'answer'
        continue
      }
      if (this.state === 'think') {
        const end = text.indexOf(CLOSE)
        if (end >= 0) {
          reasoning += text.slice(0, end)
          text = text.slice(end + CLOSE.length)
          this.state = 'after'
          continue
        }
        const keep = partialTagAtEnd(text, CLOSE)
        reasoning += text.slice(0, text.length - keep)
        this.held = text.slice(text.length - keep)
        break
      }
      // After `</think>`: the blank lines before the answer are not part of it.
      const start = text.trimStart()
      if (start) {
        this.state = 'answer'
        text = start
        continue
      }
      break
    }
    return { reasoning, answer }
  }

  /** The stream ended: what was held back is what it looked like (an unfinished tag is text). */
  flush(): { reasoning: string, answer: string } {
    const held = this.held
    this.held = ''
    if (this.state === 'think') return { reasoning: held, answer: '' }
    return { reasoning: '', answer: this.state === 'start' ? held : '' }
  }
}

/** Length of the longest end of `text` that is a proper start of `tag`. */
function partialTagAtEnd(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n
  }
  return 0
}
