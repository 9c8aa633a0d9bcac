import type { ModelsResponse } from '#shared/schemas'

/**
 * The models offered; `historyChars`, how much earlier conversation a question is sent with
 * (docs/answer-limits.md); and `attachments`, what a question may carry (docs/attachments.md).
 */
export default defineEventHandler(async (): Promise<ModelsResponse & { historyChars: number }> => {
  const { models, default: fallback } = await listModels()
  const config = useFlumeConfig()
  const { count, bytes, totalBytes, kinds } = attachmentLimits()
  return {
    models: models.map(id => ({ id })),
    default: fallback,
    historyChars: config.historyChars,
    attachments: { count, bytes, totalBytes, kinds: [...kinds] },
  }
})
