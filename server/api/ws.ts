import { platform } from '#flume/platform'
import { isForeignOrigin } from '../middleware/01.origin'
import { WS_MAX_PAYLOAD, WsFollowSession, type WsPeer } from '../http/ws-follow'

/**
 * Answers over one WebSocket (docs/websocket.md): follow several at once, each from an offset,
 * and stop them. The upgrade takes the session cookie's identity and refuses a foreign Origin
 * (cross-site WebSocket hijacking): no middleware sees an upgrade. Not on Cloudflare, where
 * nuxt.config.ts leaves WebSockets off (docs/websocket.md says why).
 *
 * Nitro 2.13 runs crossws 0.3 (its own dependency, not the newer one in node_modules): its Node
 * peers have no ping, buffered amount or drain, so those come from the `ws` socket underneath, and
 * text and binary messages both arrive as bytes.
 */
/** Widened: each build's `#flume/platform` names one platform only. */
const platformName: string = platform.name

export default defineEventHandler({
  handler() {
    if (platformName === 'cloudflare') throw httpError(404, 'not_found', 'No such API route.')
    throw createError({ status: 426, statusText: 'Upgrade Required', message: 'Connect with a WebSocket.', data: { code: 'invalid_request' } })
  },
  websocket: {
    async upgrade(request) {
      const header = (name: string) => request.headers.get(name) ?? undefined
      if (isForeignOrigin(header, new URL(request.url).protocol.replace(/:$/, ''))) {
        return refusal(403, 'Forbidden', 'forbidden_origin', 'WebSocket connections from another origin are not allowed.')
      }
      const owner = await ownerOfCookieHeader(request.headers.get('cookie'))
      if (!owner) {
        return refusal(401, 'Unauthorized', 'invalid_request', 'No valid session cookie: open the app (or call any /api route) first, and send its flume_session cookie.')
      }
      // crossws 0.3 (Nitro's) keeps the request's context for the peer; 0.4 merges a returned one.
      if (request.context) request.context.owner = owner
      return { context: { owner } }
    },
    open(peer) {
      const socket = peer.websocket as unknown as NodeWebSocket
      limitPayload(socket)
      peer.context.follows = new WsFollowSession(wsPeerOf(socket, peer), peer.context.owner as string)
    },
    message(peer, message) {
      (peer.context.follows as WsFollowSession | undefined)?.receive(message.text())
    },
    close(peer) {
      (peer.context.follows as WsFollowSession | undefined)?.close()
    },
    error(peer) {
      (peer.context.follows as WsFollowSession | undefined)?.close()
    },
  },
})

/** The `ws` WebSocket under a crossws 0.3 Node peer (peer.websocket proxies it). */
interface NodeWebSocket {
  readonly bufferedAmount: number
  readonly readyState: number
  ping: () => void
  _receiver?: { _maxPayload?: number }
}

function wsPeerOf(socket: NodeWebSocket, peer: { send: (data: string) => unknown, close: (code?: number, reason?: string) => void, terminate: () => void }): WsPeer {
  return {
    send: text => void peer.send(text),
    get bufferedAmount() {
      return socket.bufferedAmount
    },
    waitForDrain: ({ threshold, signal }) => new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (socket.bufferedAmount > threshold && socket.readyState <= 1) return
        clearInterval(timer)
        resolve()
      }, 50)
      signal.addEventListener('abort', () => {
        clearInterval(timer)
        reject(signal.reason)
      }, { once: true })
    }),
    ping() {
      try {
        socket.ping()
      }
      catch { /* closing */ }
    },
    close: (code, reason) => peer.close(code, reason),
    terminate: () => peer.terminate(),
  }
}

/**
 * Client messages are small, but ws takes up to 100 MiB each and Nitro passes crossws no options.
 * ws' receiver reads its limit on every frame, so lowering it here holds (a bigger one closes the
 * socket with 1009).
 */
function limitPayload(socket: NodeWebSocket) {
  const receiver = socket._receiver
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = WS_MAX_PAYLOAD
}

/**
 * A refused upgrade, in the API's error shape (CONTRACT.md, Conventions). No Content-Type:
 * crossws 0.3 percent-encodes header values (`application%2Fjson`).
 */
function refusal(status: number, statusText: string, code: string, message: string) {
  return new Response(JSON.stringify({ status, statusText, message, data: { code } }), {
    status,
    statusText,
    headers: { 'cache-control': 'no-store' },
  })
}
