import type { ModelsResponse } from '#shared/schemas'

export default defineEventHandler(async (): Promise<ModelsResponse> => {
  const { models, default: fallback } = await listModels()
  return { models: models.map(id => ({ id })), default: fallback }
})
