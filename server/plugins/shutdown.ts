import { platform } from '#flume/platform'

/**
 * Graceful shutdown (SIGTERM, SIGINT). Nitro's own handler closes the listener, then waits for
 * open connections before its `close` hook; open SSE streams never close by themselves, so that
 * hook used to come after the platform's SIGKILL. Here, on the signal: no new answers (503
 * `shutting_down`), running answers get FLUME_SHUTDOWN_GRACE_MS to finish, the rest end as
 * `interrupted` with their text saved and their readers get the final frames; their streams then
 * end, Nitro sees no connection left, runs `close` (database and registry closed) and exits 0.
 */
export default defineNitroPlugin((nitroApp) => {
  if (import.meta.dev || typeof process === 'undefined' || typeof process.once !== 'function') return
  let draining: Promise<void> | undefined
  const drain = () => (draining ??= drainRuns())
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void drain())
  nitroApp.hooks.hook('close', async () => {
    await drain()
    await useRuns().close?.()
    await platform.close()
    await closeDb()
  })
})

async function drainRuns() {
  beginShutdown()
  const runs = useRuns()
  const graceMs = useFlumeConfig().shutdownGraceMs
  if (runs.size) console.warn(`[flume] shutting down: ${runs.size} answer(s) running get ${graceMs} ms to finish`)
  const deadline = Date.now() + graceMs
  while (runs.size && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  if (runs.size) console.warn(`[flume] shutting down: ${runs.size} answer(s) end as interrupted, their text saved`)
  await runs.interruptAll()
}
