/**
 * Refuses a model the server does not offer, when its list is authoritative (the upstream's
 * own list or FLUME_MODELS); otherwise any name goes through and upstream decides.
 */
export async function assertKnownModel(model: string): Promise<void> {
  const { models, authoritative } = await listModels()
  if (authoritative && !models.includes(model)) {
    throw httpError(400, 'unknown_model', 'This model is not offered by the server; see GET /api/models.')
  }
}
