const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Refuses state-changing requests from another site (CONTRACT.md). Clients that send no
 * Origin (curl, server-to-server) are let through; browsers always send one on these methods.
 * The Origin must match this server's own scheme and host, as the client reached it: behind a
 * proxy, the first entry of X-Forwarded-Host / X-Forwarded-Proto (browsers cannot set those).
 */
export default defineEventHandler((event) => {
  if (!STATE_CHANGING.has(event.method)) return
  if (isForeignOrigin(name => getRequestHeader(event, name), getRequestProtocol(event, { xForwardedProto: false }))) throw forbidden()
})

/**
 * The rule above for any request, given its headers and the scheme of the connection it came on
 * (`http`/`https`): also used by the WebSocket upgrade (server/api/ws.ts), which no middleware sees.
 */
export function isForeignOrigin(header: (name: string) => string | undefined, protocol: string): boolean {
  const origin = header('origin')
  if (origin === undefined) return header('sec-fetch-site') === 'cross-site'
  let from: URL | undefined
  try {
    from = new URL(origin)
  }
  catch { /* "null" or garbage */ }
  const host = firstOf(header('x-forwarded-host')) ?? header('host')
  const proto = firstOf(header('x-forwarded-proto')) ?? protocol
  return !from || from.host !== host || from.protocol !== `${proto}:`
}

/** The first value of a header a proxy chain may have made a list ("a, b"). */
function firstOf(value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim()
  return first || undefined
}

const forbidden = () => httpError(403, 'forbidden_origin', 'Requests from another origin are not allowed.')
