import { historyStart } from '#shared/history'
import type { Usage } from '#shared/schemas'
import type { ChatTurn } from './llm'
import type { GenerationJob } from './registry'

/** Sent after the partial answer when a person asks to continue it. */
export const CONTINUE_INSTRUCTION = 'Continue your previous answer exactly where it stopped. Do not repeat anything already written and do not comment on the interruption.'

/** What the model is sent: the system prompt, the conversation, and for Continue the partial answer. */
export function promptFor(job: GenerationJob, history: ChatTurn[]): ChatTurn[] {
  const turns = job.systemPrompt ? [{ role: 'system' as const, content: job.systemPrompt }, ...history] : history
  if (!job.continuation?.text) return turns
  return [...turns, { role: 'assistant', content: job.continuation.text }, { role: 'user', content: CONTINUE_INSTRUCTION }]
}

/**
 * The conversation sent with a question (`history` ends with it), cut to the newest turns that fit
 * in `budget` characters (FLUME_HISTORY_CHARS; shared/history.ts has the rule, which clients share).
 */
export function withinBudget(history: ChatTurn[], budget: number): ChatTurn[] {
  const start = historyStart(history, budget)
  return start ? history.slice(start) : history
}

/** A continued answer counts the tokens of every call that wrote it. */
export function addUsage(before: Usage | undefined, part: Usage): Usage {
  const reasoningTokens = (before?.reasoningTokens ?? 0) + (part.reasoningTokens ?? 0)
  return {
    promptTokens: (before?.promptTokens ?? 0) + part.promptTokens,
    completionTokens: (before?.completionTokens ?? 0) + part.completionTokens,
    ...(reasoningTokens ? { reasoningTokens } : {}),
  }
}
