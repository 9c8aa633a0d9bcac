import { DONE_SENTINEL, MESSAGE_PAGE, isFinalStatus, streamUrlFor } from '#shared/chat'
import { errorCodeOf, type ErrorCode } from '#shared/codes'
import type { Chat, ChatWithMessages, Message, MessageError, PostMessageResponse, RetryResponse, StreamEvent } from '#shared/schemas'

export type ChatStatus = 'idle' | 'submitting' | 'streaming' | 'error'

/** Errors this client raises itself (never sent by the server). */
export const STREAM_LOST = 'stream_lost'

const EVENT_SOURCE_OPEN = 1
const EVENT_SOURCE_CLOSED = 2

interface Stream {
  source: EventSource
  /** Length of the answer text received so far: the offset of the next delta. */
  received: number
  failed: MessageError | null
}

function isLive(message: Message) {
  return message.role === 'assistant' && !isFinalStatus(message.status)
}

/** How long a stream opened ahead (openStreamEarly) waits for its page before it is closed. */
const EARLY_STREAM_MS = 10_000

interface EarlyStream { source: EventSource, frames: MessageEvent<string>[], failed: boolean }

/** Streams opened before their chat's page exists, with the frames that came meanwhile. */
const earlyStreams = new Map<string, EarlyStream>()

/**
 * Starts following an answer from its first byte before the page that shows it is there (a new
 * chat: useChats().start, while the chat page loads). The page's useChat takes the stream over,
 * frames received meanwhile included. Not taken over in time, it is closed; the answer is
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
 * One chat: its messages, sending, and following the answers as they stream.
 *
 * Messages live in `useState`, so a server-rendered page hands them to the browser.
 * Streams belong to the component that calls this, and close when its scope ends.
 */
/** Refusals that mean the chat changed in another tab or window: reload it. */
const CHANGED_ELSEWHERE: ErrorCode[] = ['not_retryable', 'not_continuable', 'not_editable']

export function useChat(chatId: string) {
  const requestFetch = useRequestFetch()
  const chat = useState<Chat | null>(`flume:chat:${chatId}`, () => null)
  const messages = useState<Message[]>(`flume:chat:${chatId}:messages`, () => [])
  // A long chat opens at its newest messages; this is the cursor of the ones before (null: none).
  const olderCursor = useState<string | null>(`flume:chat:${chatId}:older`, () => null)
  const loadingOlder = ref(false)
  const submitting = ref(false)
  const error = ref<MessageError | null>(null)
  const reconnecting = ref(new Set<string>())

  const streams = new Map<string, Stream>()
  let lastContent: string | null = null
  let disposed = false

  const status = computed<ChatStatus>(() => {
    if (submitting.value) return 'submitting'
    if (messages.value.some(isLive)) return 'streaming'
    if (error.value) return 'error'
    const last = messages.value.at(-1)
    return last?.role === 'assistant' && last.status === 'error' ? 'error' : 'idle'
  })

  function find(messageId: string) {
    return messages.value.find(m => m.id === messageId)
  }

  function replace(message: Message) {
    const index = messages.value.findIndex(m => m.id === message.id)
    if (index === -1) messages.value.push(message)
    else messages.value[index] = message
  }

  // Streamed text reaches the messages in batches (utils/text-batcher.ts): at most one reactive
  // update per ~60 ms, however many deltas arrive; flush() commits what is queued at once.
  const pendingText = createTextBatcher((id, text) => {
    const message = find(id)
    if (!message) return
    message.content += text
    if (message.status === 'pending') message.status = 'streaming'
  })
  const flush = pendingText.flush
  const append = pendingText.append

  function setReconnecting(messageId: string, on: boolean) {
    if (reconnecting.value.has(messageId) === on) return
    if (on) reconnecting.value.add(messageId)
    else reconnecting.value.delete(messageId)
  }

  function close(messageId: string) {
    const stream = streams.get(messageId)
    if (!stream) return
    stream.source.close()
    streams.delete(messageId)
    setReconnecting(messageId, false)
  }

  /** The chat and its newest messages (docs/paging.md); with `before`, the ones before that cursor. */
  async function fetchChat(before?: string) {
    return await requestFetch<ChatWithMessages>(`/api/chats/${encodeURIComponent(chatId)}`, {
      query: { limit: MESSAGE_PAGE.default, ...(before ? { before } : {}) },
    })
  }

  /**
   * After a stream ends, take the message as the server stored it, and refresh the chat list
   * (the sidebar): the chat moved up, and its title may have changed.
   */
  async function settle(messageId: string, fallback: Pick<Message, 'status' | 'error'>) {
    try {
      const { messages: stored, next: _next, ...rest } = await fetchChat()
      chat.value = rest
      // Followed again meanwhile (Continue keeps the id): that stream says how it ends.
      if (streams.has(messageId)) return
      const fresh = stored.find(m => m.id === messageId)
      if (fresh && !isLive(fresh)) {
        replace(fresh)
        return
      }
    }
    catch { /* keep what the stream told us */ }
    finally {
      void refreshNuxtData('chats')
    }
    const message = find(messageId)
    if (message && isLive(message) && !streams.has(messageId)) Object.assign(message, fallback)
  }

  function onFrame(messageId: string, event: MessageEvent<string>) {
    const stream = streams.get(messageId)
    if (!stream) return
    setReconnecting(messageId, false)
    if (event.data === DONE_SENTINEL) {
      flush()
      close(messageId)
      void settle(messageId, stream.failed ? { status: 'error', error: stream.failed } : { status: 'done', error: undefined })
      return
    }
    let frameData: StreamEvent
    try {
      frameData = JSON.parse(event.data) as StreamEvent
    }
    catch {
      return
    }
    if (frameData.type === 'delta') {
      let text = frameData.text
      // The event id is the text length after this frame: drop anything already received.
      const end = Number.parseInt(event.lastEventId, 10)
      if (Number.isFinite(end) && end - text.length < stream.received) {
        text = text.slice(Math.min(text.length, stream.received - (end - text.length)))
      }
      stream.received += text.length
      if (text) append(messageId, text)
      return
    }
    flush()
    const message = find(messageId)
    if (!message) return
    if (frameData.type === 'usage') {
      message.usage = { promptTokens: frameData.promptTokens, completionTokens: frameData.completionTokens }
    }
    else {
      stream.failed = { code: frameData.code, message: frameData.message }
      message.status = 'error'
      message.error = stream.failed
    }
  }

  function onStreamError(messageId: string) {
    const stream = streams.get(messageId)
    if (!stream) return
    if (stream.source.readyState !== EVENT_SOURCE_CLOSED) {
      // The browser reconnects by itself and sends Last-Event-ID.
      setReconnecting(messageId, true)
      return
    }
    flush()
    close(messageId)
    void settle(messageId, {
      status: 'error',
      error: { code: STREAM_LOST, message: 'The connection to this answer was lost.' },
    })
  }

  function open(messageId: string, url: string, received: number) {
    if (disposed || streams.has(messageId) || !import.meta.client) return
    // A stream opened ahead from the start of the answer is taken over, frames and all.
    const early = received === 0 ? earlyStreams.get(messageId) : undefined
    if (early) earlyStreams.delete(messageId)
    const source = early?.source ?? new EventSource(url)
    streams.set(messageId, { source, received, failed: null })
    source.onmessage = event => onFrame(messageId, event)
    source.onerror = () => onStreamError(messageId)
    source.onopen = () => setReconnecting(messageId, false)
    if (!early) return
    for (const frame of early.frames) onFrame(messageId, frame)
    if (early.failed && streams.has(messageId) && source.readyState !== EVENT_SOURCE_OPEN) onStreamError(messageId)
  }

  /** Follows every answer that is still being written, from the text already shown. */
  function resume() {
    for (const message of messages.value) {
      if (!isLive(message)) continue
      const offset = message.content.length + pendingText.pendingLength(message.id)
      open(message.id, `${streamUrlFor(chatId, message.id)}?offset=${offset}`, offset)
    }
  }

  async function load() {
    const data = await fetchChat()
    for (const id of [...streams.keys()]) close(id)
    pendingText.clear()
    const { messages: loaded, next, ...rest } = data
    chat.value = rest
    messages.value = loaded
    olderCursor.value = next ?? null
    if (import.meta.client) resume()
    return true
  }

  /** Puts the page of messages before the ones shown in front of them (the thread scrolled to its top). */
  async function loadOlder(): Promise<boolean> {
    const before = olderCursor.value
    if (!before || loadingOlder.value) return false
    loadingOlder.value = true
    try {
      const { messages: page, next } = await fetchChat(before)
      // Reloaded meanwhile: that load said where the chat starts.
      if (olderCursor.value !== before) return false
      const shown = new Set(messages.value.map(m => m.id))
      messages.value = [...page.filter(m => !shown.has(m.id)), ...messages.value]
      olderCursor.value = next ?? null
      return true
    }
    catch (err) {
      error.value = apiError(err, 'Earlier messages could not be loaded.')
      return false
    }
    finally {
      loadingOlder.value = false
    }
  }

  /**
   * One request that starts an answer at a time; its failure is shown as the chat's error. A
   * conflict means the chat changed elsewhere (another tab continued or replaced the answer):
   * it is loaded again, following whatever runs now.
   */
  async function submit(request: () => Promise<void>, failure: string): Promise<boolean> {
    if (submitting.value) return false
    submitting.value = true
    error.value = null
    try {
      await request()
      return true
    }
    catch (err) {
      error.value = apiError(err, failure)
      // What is on screen now (the answer another tab started) says the rest.
      if (CHANGED_ELSEWHERE.includes(errorCodeOf(err)!)) {
        await load().then(() => {
          error.value = null
        }, () => {})
      }
      return false
    }
    finally {
      submitting.value = false
    }
  }

  async function send(content: string): Promise<boolean> {
    if (!content.trim()) return false
    return await submit(async () => {
      lastContent = content
      const res = await $fetch<PostMessageResponse>(`/api/chats/${encodeURIComponent(chatId)}/messages`, {
        method: 'POST',
        body: { content },
      })
      replace(res.userMessage)
      replace(res.assistantMessage)
      if (isLive(res.assistantMessage)) open(res.assistantMessage.id, res.streamUrl, res.assistantMessage.content.length)
    }, 'The message could not be sent.')
  }

  /** Stops the answer being written (the last one by default); its text so far stays. */
  async function stop(messageId = messages.value.findLast(isLive)?.id) {
    if (!messageId) return
    try {
      const stopped = await $fetch<Message>(
        `/api/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}/stop`,
        { method: 'POST' },
      )
      flush()
      close(messageId)
      replace(stopped)
    }
    catch (err) {
      error.value = apiError(err, 'The answer could not be stopped.')
    }
  }

  /**
   * After an error: follow a lost stream again, or ask for the failed answer once more (the
   * server replaces it; the question is not repeated). Sends the last message again only when
   * there is no answer to replace (the send itself failed).
   */
  async function retry() {
    const last = messages.value.at(-1)
    if (last?.role === 'assistant' && last.error?.code === STREAM_LOST) {
      error.value = null
      last.status = 'streaming'
      last.error = undefined
      open(last.id, `${streamUrlFor(chatId, last.id)}?offset=${last.content.length}`, last.content.length)
      return true
    }
    if (last?.role === 'assistant' && (last.status === 'error' || last.status === 'stopped')) {
      return await replaceLast(last, 'The answer could not be retried.')
    }
    const content = lastContent ?? messages.value.findLast(m => m.role === 'user')?.content
    return content ? await send(content) : false
  }

  /** Asks for a new version of the last answer once it is done; the new one takes its place. */
  async function regenerate() {
    const last = messages.value.at(-1)
    if (last?.role !== 'assistant' || last.status !== 'done') return false
    return await replaceLast(last, 'The answer could not be regenerated.')
  }

  /** The server replaces the finished last answer by a new one (the question is not repeated). */
  async function replaceLast(last: Message, failure: string) {
    return await submit(async () => {
      const res = await $fetch<RetryResponse>(
        `/api/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(last.id)}/retry`,
        { method: 'POST' },
      )
      const index = messages.value.indexOf(last)
      if (index === -1) messages.value.push(res.assistantMessage)
      else messages.value.splice(index, 1, res.assistantMessage)
      if (isLive(res.assistantMessage)) open(res.assistantMessage.id, res.streamUrl, 0)
    }, failure)
  }

  /**
   * Edit and resend: the question `messageId` gets new words. The server replaces it and every
   * message after it (stopping an answer still running) and starts a new answer, followed here.
   */
  async function edit(messageId: string, content: string): Promise<boolean> {
    if (!content.trim()) return false
    return await submit(async () => {
      const res = await $fetch<PostMessageResponse>(
        `/api/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}/edit`,
        { method: 'POST', body: { content } },
      )
      const index = messages.value.findIndex(m => m.id === messageId)
      const dropped = index === -1 ? [] : messages.value.slice(index)
      flush()
      for (const message of dropped) close(message.id)
      messages.value.splice(index === -1 ? messages.value.length : index, dropped.length, res.userMessage, res.assistantMessage)
      if (isLive(res.assistantMessage)) open(res.assistantMessage.id, res.streamUrl, 0)
    }, 'The edited message could not be sent.')
  }

  /** Continue: the stopped or failed last answer goes on from its text; new text is appended to it. */
  async function continueAnswer(): Promise<boolean> {
    const last = messages.value.at(-1)
    if (last?.role !== 'assistant' || !(last.status === 'error' || last.status === 'stopped')) return false
    return await submit(async () => {
      const res = await $fetch<RetryResponse>(
        `/api/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(last.id)}/continue`,
        { method: 'POST' },
      )
      flush()
      close(last.id)
      replace(res.assistantMessage)
      // The stream starts with the text already here: follow only what comes after it.
      const offset = res.assistantMessage.content.length
      if (isLive(res.assistantMessage)) open(last.id, `${res.streamUrl}?offset=${offset}`, offset)
    }, 'The answer could not be continued.')
  }

  tryOnScopeDispose(() => {
    disposed = true
    for (const id of [...streams.keys()]) close(id)
    pendingText.clear()
  })

  return {
    chat,
    messages,
    hasOlder: computed(() => olderCursor.value !== null),
    loadingOlder,
    loadOlder,
    status,
    error,
    reconnecting: computed(() => reconnecting.value.size > 0),
    load,
    resume,
    send,
    stop,
    retry,
    regenerate,
    edit,
    continueAnswer,
  }
}
