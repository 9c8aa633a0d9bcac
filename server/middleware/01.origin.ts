const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Refuses state-changing requests from another site (CONTRACT.md). Clients that send no
 * Origin (curl, server-to-server) are let through; browsers always send one on these methods.
 */
export default defineEventHandler((event) => {
  if (!STATE_CHANGING.has(event.method)) return
  const origin = getRequestHeader(event, 'origin')
  const host = getRequestHeader(event, 'x-forwarded-host') ?? getRequestHeader(event, 'host')
  if (origin === undefined) {
    if (getRequestHeader(event, 'sec-fetch-site') === 'cross-site') throw forbidden()
    return
  }
  let originHost: string | undefined
  try {
    originHost = new URL(origin).host
  }
  catch { /* "null" or garbage */ }
  if (!originHost || originHost !== host) throw forbidden()
})

const forbidden = () => httpError(403, 'forbidden_origin', 'Requests from another origin are not allowed.')
