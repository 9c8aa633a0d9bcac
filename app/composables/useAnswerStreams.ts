import { DONE_SENTINEL } from '#shared/chat'
import type { Message, MessageError, StreamEvent, Usage } from '#shared/schemas'
import { formatStreamId, parseStreamId, type StreamPosition } from '#shared/stream-id'
import { STREAM_START, unseenText } from '~/utils/stream-position'

/** Errors this client raises itself (never sent by the server). */
export const STREAM_LOST = 'stream_lost'

const EVENT_SOURCE_OPEN = 1
const EVENT_SOURCE_CLOSED = 2

/** What a followed answer tells its owner; ids are the answers' message ids. */
export interface AnswerStreamEvents {
  /** New answer text, without any part received before (a reconnect can send it again). */
  delta: (messageId: string, text: string) => void
  /** New reasoning (docs/reasoning.md), likewise without any part received before. */
  reasoning: (messageId: string, text: string) => void
  usage: (messageId: string, usage: Usage) => void
  /** The answer failed; the stream still ends with `end`. */
  error: (messageId: string, error: MessageError) => void
  /** The stream is over (`[DONE]`, or lost for good) and closed: how the answer ended, as far as the stream knows. */
  end: (messageId: string, outcome: Pick<Message, 'status' | 'error'>) => void
}

interface Followed {
  source: EventSource
  position: StreamPosition
  failed: MessageError | null
}

type FrameOf<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>
/** What a frame of each type does; a type not listed here (a newer server's) is ignored. */
type FrameHandlers = { [T in StreamEvent['type']]?: (messageId: string, stream: Followed, frame: FrameOf<T>, id: StreamPosition | undefined) => void }

/** How long a stream opened ahead (openStreamEarly) waits for its page before it is closed. */
const EARLY_STREAM_MS = 10_000

interface EarlyStream { source: EventSource, frames: MessageEvent<string>[], failed: boolean }

// Browser-only (openStreamEarly does nothing on the server), so no request shares it: it hands
// an EventSource from the page that started a chat to the next page's useAnswerStreams.
const earlyStreams = new Map<string, EarlyStream>()

/**
 * Starts following an answer from its first byte before the page that shows it is there (a new
 * chat: useChats().start, while the chat page loads). The page's useAnswerStreams takes the stream
 * over, frames received meanwhile included. Not taken over in time, it is closed; the answer is
 * written on the server all the same.
 */
export function openStreamEarly(messageId: string, url: string) {
  if (!import.meta.client || typeof EventSource === 'undefined' || earlyStreams.has(messageId)) return
  const early: EarlyStream = { source: new EventSource(url), frames: [], failed: false }
  early.source.onmessage = event => early.frames.push(event)
  early.source.onerror = () => {
    early.failed = true
  }
  earlyStreams.set(messageId, early)
  setTimeout(() => {
    if (earlyStreams.get(messageId) !== early) return
    early.source.close()
    earlyStreams.delete(messageId)
  }, EARLY_STREAM_MS)
}

/**
 * Follows answers as they stream (one EventSource each, CONTRACT.md's frames) and tells `on` what
 * they say. The browser reconnects by itself, sending the last frame id (both offsets, answer and
 * reasoning: docs/reasoning.md); text received twice is dropped here. Streams close at `[DONE]`, on `close`, and when the calling scope ends.
 */
export function useAnswerStreams(on: AnswerStreamEvents) {
  const streams = new Map<string, Followed>()
  const reconnecting = ref(new Set<string>())
  let disposed = false

  function setReconnecting(messageId: string, yes: boolean) {
    if (reconnecting.value.has(messageId) === yes) return
    if (yes) reconnecting.value.add(messageId)
    else reconnecting.value.delete(messageId)
  }

  function close(messageId: string) {
    const stream = streams.get(messageId)
    if (!stream) return
    stream.source.close()
    streams.delete(messageId)
    setReconnecting(messageId, false)
  }

  function closeAll() {
    for (const id of [...streams.keys()]) close(id)
  }

  function end(messageId: string, outcome: Pick<Message, 'status' | 'error'>) {
    close(messageId)
    on.end(messageId, outcome)
  }

  const handlers: FrameHandlers = {
    delta(messageId, stream, frame, id) {
      const text = unseenText(frame.text, id?.answer, stream.position.answer)
      stream.position.answer += text.length
      if (text) on.delta(messageId, text)
    },
    reasoning(messageId, stream, frame, id) {
      const text = unseenText(frame.text, id?.reasoning, stream.position.reasoning)
      stream.position.reasoning += text.length
      if (text) on.reasoning(messageId, text)
    },
    usage(messageId, _stream, frame) {
      const { promptTokens, completionTokens, reasoningTokens } = frame
      on.usage(messageId, { promptTokens, completionTokens, ...(reasoningTokens === undefined ? {} : { reasoningTokens }) })
    },
    error(messageId, stream, frame) {
      stream.failed = { code: frame.code, message: frame.message }
      on.error(messageId, stream.failed)
    },
  }

  function onFrame(messageId: string, event: MessageEvent<string>) {
    const stream = streams.get(messageId)
    if (!stream) return
    setReconnecting(messageId, false)
    if (event.data === DONE_SENTINEL) {
      end(messageId, stream.failed ? { status: 'error', error: stream.failed } : { status: 'done', error: undefined })
      return
    }
    let frame: StreamEvent
    try {
      frame = JSON.parse(event.data) as StreamEvent
    }
    catch {
      return
    }
    const handle = handlers[frame.type] as ((messageId: string, stream: Followed, frame: StreamEvent, id: StreamPosition | undefined) => void) | undefined
    handle?.(messageId, stream, frame, parseStreamId(event.lastEventId))
  }

  function onStreamError(messageId: string) {
    const stream = streams.get(messageId)
    if (!stream) return
    if (stream.source.readyState !== EVENT_SOURCE_CLOSED) {
      // The browser reconnects by itself and sends Last-Event-ID.
      setReconnecting(messageId, true)
      return
    }
    end(messageId, { status: 'error', error: { code: STREAM_LOST, message: 'The connection to this answer was lost.' } })
  }

  /**
   * Follows the answer `messageId` from `url`: from its start, or, given `from`, from there (the
   * answer and reasoning already shown; sent as `?offset=`). An answer already followed is left as it is.
   */
  function follow(messageId: string, url: string, from?: StreamPosition) {
    if (disposed || streams.has(messageId) || !import.meta.client) return
    const position = { ...(from ?? STREAM_START) }
    // A stream opened ahead from the start of the answer is taken over, frames and all.
    const early = position.answer === 0 && position.reasoning === 0 ? earlyStreams.get(messageId) : undefined
    if (early) earlyStreams.delete(messageId)
    const source = early?.source ?? new EventSource(from ? `${url}?offset=${formatStreamId(from)}` : url)
    streams.set(messageId, { source, position, failed: null })
    source.onmessage = event => onFrame(messageId, event)
    source.onerror = () => onStreamError(messageId)
    source.onopen = () => setReconnecting(messageId, false)
    if (!early) return
    for (const frame of early.frames) onFrame(messageId, frame)
    if (early.failed && streams.has(messageId) && source.readyState !== EVENT_SOURCE_OPEN) onStreamError(messageId)
  }

  tryOnScopeDispose(() => {
    disposed = true
    closeAll()
  })

  return {
    follow,
    close,
    closeAll,
    isFollowing: (messageId: string) => streams.has(messageId),
    /** True while the browser reconnects one of the streams. */
    reconnecting: computed(() => reconnecting.value.size > 0),
  }
}
