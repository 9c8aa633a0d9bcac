import type { ModelsResponse } from '#shared/schemas'
import { attachedSize, historyStart } from '#shared/history'

/**
 * The server's models and its history budget (GET /api/models), fetched once and shared. Lazy: a
 * chat page shows (and follows its answer) without waiting for it.
 */
export function useModels() {
  const { data } = useFetch<ModelsResponse>('/api/models', { key: 'flume:models', lazy: true })
  /** `historyChars`: how much earlier conversation a question is sent with (0: all of it). */
  const historyChars = computed(() => data.value?.historyChars ?? 0)
  return { data, historyChars }
}

/**
 * Index in `messages` (oldest first, as shown) of the oldest message the model was sent with the
 * latest question, by the server's own rule (`historyStart`, over the same turns: answers without
 * text are not sent; attachments count as on the server, `attachedSize`), or -1 when nothing shown was left out. `complete` says whether `messages`
 * starts the chat: when earlier ones are not loaded and everything shown fits, the cut is above them.
 */
export function modelViewStart(messages: readonly { role: string, content: string, attachments?: readonly { kind: string, size: number }[] }[], budget: number, complete = true): number {
  const end = messages.findLastIndex(m => m.role === 'user')
  if (budget <= 0 || end < 1) return -1
  const sent: number[] = []
  for (let i = 0; i <= end; i++) if (messages[i]!.content.length > 0 || messages[i]!.attachments?.length || i === end) sent.push(i)
  const turns = sent.map(i => messages[i] as { role: 'user' | 'assistant', content: string, attachments?: readonly { kind: string, size: number }[] })
  if (!complete && turns.reduce((n, t) => n + attachedSize(t), 0) <= budget) return -1
  const start = historyStart(turns, budget, attachedSize)
  return start > 0 ? sent[start]! : -1
}
