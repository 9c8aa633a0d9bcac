import OpenAI from 'openai'

export const DEMO_MODEL = 'flume-demo'
const FALLBACK_MODEL = 'gpt-4o-mini'
const MODELS_TTL_MS = 60_000

let client: OpenAI | undefined

/** One client for the process; in demo mode its `fetch` is the in-process demo model. */
export function useOpenAI(): OpenAI {
  if (client) return client
  const config = useFlumeConfig()
  client = new OpenAI({
    // Servers such as Ollama need no key, but the SDK insists on one.
    apiKey: config.apiKey ?? 'not-needed',
    baseURL: config.demo ? 'http://flume-demo.invalid/v1' : config.baseURL,
    maxRetries: config.maxRetries,
    timeout: config.upstreamTimeoutMs,
    ...(config.demo ? { fetch: demoFetch } : {}),
  })
  return client
}

let models: { at: number, list: string[], fromServer: boolean } | undefined
let loading: Promise<string[]> | undefined

/**
 * The models to offer: the server's own list when it has one (cached a minute),
 * else FLUME_MODELS, else the default model alone.
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
  if (!fromServer) list = config.models.length ? [...config.models] : []
  const fallback = defaultModel(list)
  if (!list.includes(fallback)) list.unshift(fallback)
  models = { at: Date.now(), list, fromServer }
  return list
}
