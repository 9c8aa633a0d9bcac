import type { AnswerFinished, RunRegistry } from './registry'
import { MemoryRunRegistry } from './memory-registry'

declare module 'nitropack/types' {
  interface NitroRuntimeHooks {
    /** An answer's final state is stored (titles, accounting, ...). Nothing waits for its listeners. */
    'flume:answer-finished': (event: AnswerFinished) => void | Promise<void>
  }
}

let registry: RunRegistry | undefined

/** The process's run registry, wired to the model and the database. */
export function useRuns(): RunRegistry {
  registry ??= new MemoryRunRegistry({
    saveIntervalMs: useFlumeConfig().saveIntervalMs,
    complete: ({ model, messages, temperature, signal }) => streamCompletion({
      client: useOpenAI(),
      model,
      messages,
      temperature,
      signal,
      stallTimeoutMs: useFlumeConfig().stallTimeoutMs,
    }),
    claim: id => messageStore.claim(id),
    history: (job, id) => messageStore.history(job.owner, job.chatId, id),
    saveProgress: items => messageStore.saveProgress(items),
    finish: async (id, final) => {
      await messageStore.finish(id, final)
    },
    onFinished: (event) => {
      Promise.resolve(useNitroApp().hooks.callHook('flume:answer-finished', event)).catch((error: unknown) => {
        console.error('[flume] an answer-finished listener failed', error)
      })
    },
  })
  return registry
}
