import type { AnswerFinished } from './utils/runs'

declare module 'nitropack/types' {
  interface NitroRuntimeHooks {
    /** An answer's final state is stored. Listeners must not throw; nothing waits for them. */
    'flume:answer-finished': (event: AnswerFinished) => void | Promise<void>
  }
}

export {}
