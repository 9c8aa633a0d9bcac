import type { H3Event } from 'h3'

/**
 * Where this instance is in its life: serving, or shutting down (SIGTERM/SIGINT: no new answers,
 * running ones get a grace period). server/plugins/shutdown.ts drives it.
 */
const state = { shuttingDown: false }

export function isShuttingDown(): boolean {
  return state.shuttingDown
}

export function beginShutdown() {
  state.shuttingDown = true
}

/** Seconds a client should wait before trying again on another (or the restarted) instance. */
export const SHUTDOWN_RETRY_AFTER_S = 5

/** Refuses to start an answer while this instance is going away: 503 `shutting_down` with `Retry-After`. */
export function assertAcceptingAnswers(event: H3Event) {
  if (!state.shuttingDown) return
  setResponseHeader(event, 'retry-after', SHUTDOWN_RETRY_AFTER_S)
  throw httpError(503, 'shutting_down', 'This server is restarting. Try again in a few seconds.')
}
