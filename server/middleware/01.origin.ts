const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Refuses state-changing requests from another site (CONTRACT.md). Clients that send no
 * Origin (curl, server-to-server) are let through; browsers always send one on these methods.
 * The Origin must match this server's own scheme and host, as the client reached it: behind a
 * proxy, the first entry of X-Forwarded-Host / X-Forwarded-Proto (browsers cannot set those).
 */
export default defineEventHandler((event) => {
  if (!STATE_CHANGING.has(event.method)) return
  const origin = getRequestHeader(event, 'origin')
  if (origin === undefined) {
    if (getRequestHeader(event, 'sec-fetch-site') === 'cross-site') throw forbidden()
    return
  }
  let from: URL | undefined
  try {
    from = new URL(origin)
  }
  catch { /* "null" or garbage */ }
  const host = firstOf(getRequestHeader(event, 'x-forwarded-host')) ?? getRequestHeader(event, 'host')
  const proto = firstOf(getRequestHeader(event, 'x-forwarded-proto')) ?? getRequestProtocol(event, { xForwardedProto: false })
  if (!from || from.host !== host || from.protocol !== `${proto}:`) throw forbidden()
})

/** The first value of a header a proxy chain may have made a list ("a, b"). */
function firstOf(value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim()
  return first || undefined
}

const forbidden = () => httpError(403, 'forbidden_origin', 'Requests from another origin are not allowed.')
