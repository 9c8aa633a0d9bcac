import { platform } from '#flume/platform'
import { withinBudget } from './prompt'
import type { AnswerFinished, GenerationIO, RunRegistry } from './registry'

declare module 'nitropack/types' {
  interface NitroRuntimeHooks {
    /** An answer's final state is stored (titles, accounting, ...). Nothing waits for its listeners. */
    'flume:answer-finished': (event: AnswerFinished) => void | Promise<void>
  }
}

let registry: RunRegistry | undefined

/**
 * The process's run registry, wired to the model and the database: in this process's memory, or
 * in Redis when REDIS_URL is set (several instances share the answers; docs/instances.md); on
 * Cloudflare, the edge registry (server/generation/edge-registry.ts).
 */
export function useRuns(): RunRegistry {
  if (registry) return registry
  const config = useFlumeConfig()
  const io: GenerationIO = {
    saveIntervalMs: config.saveIntervalMs,
    storageGraceMs: config.storageGraceMs,
    complete: ({ model, messages, temperature, signal }) => streamCompletion({
      client: useOpenAI(),
      model,
      messages,
      temperature,
      maxTokens: config.maxAnswerTokens,
      signal,
      stallTimeoutMs: config.stallTimeoutMs,
    }),
    claim: id => messageStore.claim(id),
    // Trimmed after the store returns the whole conversation: the budget is the model's view, not
    // the store's. Attachments' bytes are read for the turns that are sent only.
    history: async (job, id) => await modelTurns(withinBudget(await messageStore.history(job.owner, job.chatId, id), config.historyChars), ids => attachmentStore.data(ids)),
    saveProgress: items => messageStore.saveProgress(items),
    finish: async (id, final) => {
      // Never over an answer that ended meanwhile (stopped or recovered by another instance).
      await messageStore.finish(id, final, ['pending', 'streaming'])
    },
    load: id => messageStore.state(id),
    onFinished: (event) => {
      Promise.resolve(useNitroApp().hooks.callHook('flume:answer-finished', event)).catch((error: unknown) => {
        console.error('[flume] an answer-finished listener failed', error)
      })
    },
  }
  registry = platform.runRegistry(io, config)
  return registry
}
