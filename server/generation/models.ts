import type { Chat, Message } from '#shared/schemas'

const FALLBACK_MODEL = 'gpt-4o-mini'
const MODELS_TTL_MS = 60_000

let models: { at: number, list: string[], fromServer: boolean } | undefined
let loading: Promise<string[]> | undefined

/**
 * The models to offer: FLUME_MODELS when set (those of them the server lists, when it lists
 * any), else the server's own list (cached a minute), else the default model alone.
 */
export async function listModels(): Promise<{ models: string[], default: string, authoritative: boolean }> {
  const config = useFlumeConfig()
  if (!models || Date.now() - models.at > MODELS_TTL_MS) {
    loading ??= fetchModels().finally(() => {
      loading = undefined
    })
    await loading
  }
  const list = models!.list
  return { models: list, default: defaultModel(list), authoritative: models!.fromServer || config.models.length > 0 }
}

export function defaultModel(available?: string[]): string {
  const config = useFlumeConfig()
  if (config.defaultModel) return config.defaultModel
  if (config.demo) return DEMO_MODEL
  if (config.models[0]) return config.models[0]
  if (!available?.length || available.includes(FALLBACK_MODEL)) return FALLBACK_MODEL
  return available[0]!
}

/** The model for a message that names none: configured, else what GET /api/models advertises. */
export async function resolveDefaultModel(): Promise<string> {
  const config = useFlumeConfig()
  if (config.defaultModel || config.demo || config.models.length) return defaultModel()
  return (await listModels()).default
}

async function fetchModels(): Promise<string[]> {
  const config = useFlumeConfig()
  let list: string[] = []
  let fromServer = false
  try {
    const page = await useOpenAI().models.list({ timeout: 5000, maxRetries: 0 })
    list = page.data.map(m => m.id).sort()
    fromServer = list.length > 0
  }
  catch {
    // No /models on this server (some proxies): fall back to configuration.
  }
  // FLUME_MODELS is an allowlist: only those are offered (and accepted), whatever else the server
  // lists, so no visitor can pick its most expensive model.
  if (config.models.length) list = fromServer ? config.models.filter(id => list.includes(id)) : [...config.models]
  if (!list.length) list = [...config.models]
  const fallback = defaultModel(list)
  if (!list.includes(fallback)) list.unshift(fallback)
  models = { at: Date.now(), list, fromServer }
  return list
}

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

/**
 * The model an answer is written with, the one rule for every route that starts an answer: the
 * model the request names, else the chat's (a model picked for it), else the model the answer was
 * first written with (retry and continue keep it), else the server's default.
 */
export async function modelFor(chat: Pick<Chat, 'model'> | undefined, requested?: string, answer?: Pick<Message, 'model'>): Promise<string> {
  return requested ?? chat?.model ?? answer?.model ?? await resolveDefaultModel()
}
