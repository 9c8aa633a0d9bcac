import { IdSchema, isFinalStatus, type StreamEvent } from '#shared/schemas'
import type { RequestErrorCode } from '#shared/codes'
import { formatStreamId, parseStreamId, type StreamPosition } from '#shared/stream-id'
import type { RunFinal, RunReader } from '../generation/run'
import { takeStreamSlot } from '../generation/open-streams'
import { INTERRUPTED } from '../generation/registry'
import { findOwnAnswer } from '../storage/message-lookup'
import { PAST_END, finalOf, restOf } from './sse'

/** What a follow session needs of a socket (crossws' Peer on Node; a fake in tests). */
export interface WsPeer {
  send: (text: string) => void
  /** Bytes queued for the client and not yet taken by its socket. */
  readonly bufferedAmount: number
  /** Resolves once at most `threshold` bytes are queued (or the socket is gone); rejects when `signal` aborts first. */
  waitForDrain: (options: { threshold: number, signal: AbortSignal }) => Promise<void>
  /** A WebSocket ping control frame: browsers answer it themselves, unseen by page code. */
  ping: () => void
  close: (code: number, reason: string) => void
  terminate: () => void
}

/**
 * A server message: a stream frame (`id` = offset: a number, or `"<answer>,<reasoning>"` once the
 * answer has reasoning, docs/reasoning.md) or a refused request (no `id`).
 */
export type WsFrame = { messageId: string, id: number | string } & (StreamEvent | { type: 'done' })
  | { messageId?: string, type: 'error', code: RequestErrorCode, message: string }

/** Longest client message read; anything longer is refused (the socket's own limit is WS_MAX_PAYLOAD). */
const MAX_CLIENT_MESSAGE = 4096
/** Frames beyond the ones in flight wait while more than this is queued for the client. */
const HIGH_WATER = 64 * 1024
/** Past this the client is dropped at once: replies to a flood of requests it does not read. */
const HARD_CAP = 1024 * 1024
/** The largest WebSocket message the server takes from a client; ws (crossws' Node adapter) defaults to 100 MiB. */
export const WS_MAX_PAYLOAD = 64 * 1024
/** Times a follow looks again for where an answer is written (another instance took it) before giving up. */
const MAX_ATTEMPTS = 5

interface Follow {
  cancelled: boolean
  reader?: RunReader
  release: () => void
}

/**
 * One WebSocket's follows (docs/websocket.md): each followed answer is a reader of its run (or its
 * stored text once it ended) encoded as JSON messages, the same frames as the SSE stream with the
 * answer's id added. Unfollowing or closing the socket closes readers and never stops generation;
 * only `stop` does.
 */
export class WsFollowSession {
  private readonly follows = new Map<string, Follow>()
  private readonly heartbeat: ReturnType<typeof setInterval>
  private lastSend = Date.now()
  private draining?: Promise<void>
  private closed = false

  constructor(private readonly peer: WsPeer, readonly owner: string) {
    const { heartbeatMs } = useFlumeConfig()
    // As sse.ts: checked four times per period, a ping after 3/4 of a period without a message.
    this.heartbeat = setInterval(() => this.tick(heartbeatMs), heartbeatMs / 4)
  }

  /** A client message, as text (crossws 0.3 cannot tell a binary one apart: it is read as UTF-8). */
  receive(text: string) {
    if (this.closed) return
    const request = parseRequest(text)
    if ('error' in request) {
      void this.send({ ...(request.messageId ? { messageId: request.messageId } : {}), type: 'error', code: request.code ?? 'invalid_request', message: request.error })
      return
    }
    const { messageId } = request
    const task = request.type === 'follow'
      ? this.follow(messageId, request.offset)
      : request.type === 'stop' ? this.stop(messageId) : Promise.resolve(this.unfollow(messageId))
    task.catch((error: unknown) => {
      console.error('[flume] websocket request failed', error)
      void this.send({ messageId, type: 'error', code: 'internal', message: 'Something went wrong on the server.' })
    })
  }

  /** The socket is gone: every reader closes; the answers go on. */
  close() {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    for (const id of [...this.follows.keys()]) this.unfollow(id)
  }

  private unfollow(messageId: string) {
    const follow = this.follows.get(messageId)
    if (!follow) return
    this.follows.delete(messageId)
    follow.cancelled = true
    follow.reader?.close()
    follow.release()
  }

  private async follow(messageId: string, offset: StreamPosition | undefined) {
    // A second follow of the same answer starts over from its offset.
    this.unfollow(messageId)
    const release = takeStreamSlot(this.owner)
    if (!release) {
      await this.send({ messageId, type: 'error', code: 'rate_limited', message: `Too many streams are open for this session. Unfollow some, or try again in ${STREAM_RETRY_AFTER_S} seconds.` })
      return
    }
    const follow: Follow = { cancelled: false, release }
    this.follows.set(messageId, follow)
    try {
      await this.pump(messageId, offset, follow)
    }
    finally {
      follow.reader?.close()
      release()
      if (this.follows.get(messageId) === follow) this.follows.delete(messageId)
    }
  }

  /** As the stream route: from the run while it is live, from the database once it ended. */
  private async pump(messageId: string, offset: StreamPosition | undefined, follow: Follow) {
    const runs = useRuns()
    let message = await findOwnAnswer(this.owner, messageId)
    if (follow.cancelled) return
    if (!message) return this.refuse(messageId, 'not_found', 'No such answer.')
    let position = offset
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw new Error(`answer ${messageId} is neither final nor written anywhere`)
      const reader = await runs.attach(messageId, position?.answer ?? 0, position?.reasoning ?? 0)
      if (reader) {
        follow.reader = reader
        if (follow.cancelled) return
        if (reader.pastEnd) return this.refuse(messageId, 'invalid_offset', PAST_END)
        const resumeAt = await this.read(messageId, reader, follow)
        follow.reader = undefined
        reader.close()
        if (resumeAt === undefined) return
        // The run was let go (another instance writes the answer): read it where it is written.
        position = resumeAt
        continue
      }
      message = await findOwnAnswer(this.owner, messageId)
      if (follow.cancelled) return
      if (!message) return this.refuse(messageId, 'not_found', 'No such answer.')
      if (isFinalStatus(message.status)) break
      // Marked running, yet no instance has a run to read: its writer went away (adoptAnswer in
      // server/generation/answers.ts). It ends as interrupted with its saved text, unless an
      // instance writes it now: then the next attach finds it.
      await runs.settle(messageId, INTERRUPTED)
    }
    const rest = restOf(message, position ?? { answer: 0, reasoning: 0 })
    if (!rest) return this.refuse(messageId, 'invalid_offset', PAST_END)
    if (rest.reasoning) await this.send({ messageId, id: idOf({ answer: rest.from.answer, reasoning: rest.end.reasoning }), type: 'reasoning', text: rest.reasoning })
    if (rest.text) await this.send({ messageId, id: idOf(rest.end), type: 'delta', text: rest.text })
    await this.sendFinal(messageId, rest.end, finalOf(message))
  }

  /** Sends what the reader gives until the end; answers the offset to read again from if the run was let go. */
  private async read(messageId: string, reader: RunReader, follow: Follow): Promise<StreamPosition | undefined> {
    for (;;) {
      const { text, offset, reasoning, reasoningOffset = 0, final, abandoned } = await reader.next()
      if (follow.cancelled || this.closed || reader.closed) return undefined
      const at = { answer: offset, reasoning: reasoningOffset }
      if (reasoning) await this.send({ messageId, id: idOf({ answer: offset - text.length, reasoning: reasoningOffset }), type: 'reasoning', text: reasoning })
      if (text) await this.send({ messageId, id: idOf(at), type: 'delta', text })
      if (abandoned) return at
      if (final) {
        await this.sendFinal(messageId, at, final)
        return undefined
      }
    }
  }

  private async sendFinal(messageId: string, at: StreamPosition, final: RunFinal) {
    const id = idOf(at)
    if (final.usage) await this.send({ messageId, id, type: 'usage', ...final.usage })
    if (final.error) await this.send({ messageId, id, type: 'error', ...final.error })
    await this.send({ messageId, id, type: 'done' })
  }

  private async stop(messageId: string) {
    const message = await findOwnAnswer(this.owner, messageId)
    if (!message) return this.refuse(messageId, 'not_found', 'No such answer.')
    // Its followers, on this socket or any other, get its final frames.
    if (!isFinalStatus(message.status)) await stopAnswer(messageId)
  }

  private refuse(messageId: string, code: RequestErrorCode, message: string) {
    return this.send({ messageId, type: 'error', code, message })
  }

  /**
   * Sends one message. While more than HIGH_WATER bytes wait for the client, senders wait too (and
   * so read nothing more from their runs); a client that takes nothing in for
   * FLUME_WRITE_TIMEOUT_MS, or lets HARD_CAP pile up, is dropped, as sse.ts drops a stalled stream.
   */
  private async send(frame: WsFrame) {
    if (this.closed) return
    this.peer.send(JSON.stringify(frame))
    this.lastSend = Date.now()
    const queued = this.peer.bufferedAmount
    if (queued > HARD_CAP) return this.drop()
    if (queued > HIGH_WATER) await this.drained()
  }

  private drained(): Promise<void> {
    this.draining ??= this.peer.waitForDrain({ threshold: HIGH_WATER / 2, signal: AbortSignal.timeout(useFlumeConfig().writeTimeoutMs) })
      .catch(() => this.drop())
      .finally(() => (this.draining = undefined))
    return this.draining
  }

  private drop() {
    this.peer.terminate()
    this.close()
  }

  private tick(heartbeatMs: number) {
    if (this.closed) return
    // Shutting down: a socket with nothing left to follow goes, so the server can exit.
    if (isShuttingDown() && this.follows.size === 0) {
      this.peer.close(1001, 'The server is restarting.')
      this.close()
      return
    }
    if (Date.now() - this.lastSend >= heartbeatMs * 0.75) {
      this.lastSend = Date.now()
      this.peer.ping()
    }
  }
}

/** A frame's id: a number, as before reasoning existed, while the answer has none. */
function idOf(at: StreamPosition): number | string {
  return at.reasoning ? formatStreamId(at) : at.answer
}

type ParsedRequest
  = | { type: 'follow', messageId: string, offset?: StreamPosition }
    | { type: 'unfollow' | 'stop', messageId: string }
    | { error: string, messageId?: string, code?: RequestErrorCode }

/** A client message, or why it is refused. Ids that are not ids answer not_found, as in the HTTP API. */
function parseRequest(text: string): ParsedRequest {
  if (text.length > MAX_CLIENT_MESSAGE) return { error: `A message may be at most ${MAX_CLIENT_MESSAGE} characters long.` }
  let json: unknown
  try {
    json = JSON.parse(text)
  }
  catch {
    return { error: 'The message is not valid JSON.' }
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return { error: 'The message must be a JSON object.' }
  const { type, messageId, offset } = json as Record<string, unknown>
  if (type !== 'follow' && type !== 'unfollow' && type !== 'stop') {
    return { error: 'type must be "follow", "unfollow" or "stop".' }
  }
  if (typeof messageId !== 'string') return { error: 'messageId must be a string.' }
  if (!IdSchema.safeParse(messageId).success) return { error: 'No such answer.', messageId, code: 'not_found' }
  if (type !== 'follow') return { type, messageId }
  if (offset === undefined || offset === null) return { type, messageId }
  const value = typeof offset === 'number' || typeof offset === 'string' ? parseStreamId(String(offset)) : undefined
  if (!value) {
    return { error: 'The offset must be a frame id: a non-negative integer, or two of them as "<answer>,<reasoning>".', messageId, code: 'invalid_offset' }
  }
  return { type, messageId, offset: value }
}
