import type { ModelsResponse } from '#shared/schemas'

/** The models offered, and `historyChars`: how much earlier conversation a question is sent with (docs/answer-limits.md). */
export default defineEventHandler(async (): Promise<ModelsResponse & { historyChars: number }> => {
  const { models, default: fallback } = await listModels()
  return { models: models.map(id => ({ id })), default: fallback, historyChars: useFlumeConfig().historyChars }
})
