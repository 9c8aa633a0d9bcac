import OpenAI from 'openai'

export const DEMO_MODEL = 'flume-demo'

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
