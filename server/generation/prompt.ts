import { attachedSize, historyStart } from '#shared/history'
import type { Attachment, Usage } from '#shared/schemas'
import type { ChatTurn, ContentPart } from './llm'
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
export function withinBudget<T extends { role: ChatTurn['role'], content: string, attachments?: readonly Attachment[] }>(history: T[], budget: number): T[] {
  const start = historyStart(history, budget, attachedSize)
  return start ? history.slice(start) : history
}

/**
 * The turns as the model is sent them (docs/attachments.md): a question's text files after its
 * text, each between `<file name="...">` and `</file>`; its images as `image_url` parts (data URLs)
 * after that text. `load` gives the attachments' bytes, base64, by id.
 */
export async function modelTurns(history: { role: 'user' | 'assistant', content: string, attachments?: readonly Attachment[] }[], load: (ids: string[]) => Promise<Map<string, string>>): Promise<ChatTurn[]> {
  const ids = history.flatMap(turn => turn.attachments?.map(file => file.id) ?? [])
  const data = ids.length ? await load(ids) : new Map<string, string>()
  return history.map(({ role, content, attachments }): ChatTurn => {
    if (role === 'assistant' || !attachments?.length) return { role, content }
    let text = content
    const images: ContentPart[] = []
    for (const file of attachments) {
      const base64 = data.get(file.id)
      if (base64 === undefined) continue
      if (file.kind === 'image') {
        images.push({ type: 'image_url', image_url: { url: `data:${file.mediaType};base64,${base64}` } })
      }
      else {
        const body = Buffer.from(base64, 'base64').toString('utf8')
        text += `${text ? '\n\n' : ''}<file name="${file.name.replace(/["\r\n]/g, '_')}">\n${body}${body.endsWith('\n') ? '' : '\n'}</file>`
      }
    }
    return images.length ? { role, content: [...(text ? [{ type: 'text' as const, text }] : []), ...images] } : { role, content: text }
  })
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
