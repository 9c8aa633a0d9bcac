/**
 * Liveness and readiness for load balancers and orchestrators: 200 `{ ok: true, ... }` while the
 * database (and the shared run registry, when there is one) answers and this instance takes new
 * answers; 503 with what is wrong otherwise (`shutting_down` after SIGTERM, `unavailable` when a
 * dependency does not answer).
 */
export default defineEventHandler(async (event) => {
  const checks = { database: await probe(async () => {
    await (await useDb()).prepare('SELECT 1').get()
  }), ...(useRuns().ping ? { runs: await probe(() => useRuns().ping!()) } : {}) }
  const failing = Object.values(checks).some(check => check !== 'ok')
  if (isShuttingDown() || failing) {
    setResponseStatus(event, 503, 'Service Unavailable')
    setResponseHeader(event, 'retry-after', SHUTDOWN_RETRY_AFTER_S)
    return { ok: false, code: isShuttingDown() ? 'shutting_down' : 'unavailable', ...checks }
  }
  return { ok: true, ...checks }
})

const PROBE_TIMEOUT_MS = 2000

async function probe(check: () => Promise<unknown>): Promise<'ok' | 'unavailable'> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([check(), new Promise((_, reject) => (timer = setTimeout(reject, PROBE_TIMEOUT_MS)))])
    return 'ok'
  }
  catch {
    return 'unavailable'
  }
  finally {
    clearTimeout(timer)
  }
}
