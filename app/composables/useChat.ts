import { MESSAGE_PAGE, isFinalStatus } from '#shared/chat'
import { errorCodeOf, type ErrorCode } from '#shared/codes'
import type { Attachment, Chat, ChatWithMessages, Message, MessageError, PostMessageResponse, RetryResponse } from '#shared/schemas'
import type { StreamPosition } from '#shared/stream-id'
import { STREAM_START } from '~/utils/stream-position'
import { STREAM_LOST, useAnswerStreams } from './useAnswerStreams'

export type ChatStatus = 'idle' | 'submitting' | 'streaming' | 'error'

function isLive(message: Message) {
  return message.role === 'assistant' && !isFinalStatus(message.status)
}

/**
 * Where to follow an answer from: after its text and reasoning shown so far, and `pending` of
 * each received but not committed yet.
 */
function positionAfter(message: Message, pending: StreamPosition = STREAM_START): StreamPosition {
  return { answer: message.content.length + pending.answer, reasoning: (message.reasoning?.length ?? 0) + pending.reasoning }
}

/** What an answer's reasoning is queued under in the text batches, before the answer's id. */
const REASONING_KEY = 'reasoning '

/** Refusals that mean the chat changed in another tab or window: reload it. */
const CHANGED_ELSEWHERE: ErrorCode[] = ['not_retryable', 'not_continuable', 'not_editable']

/**
 * One chat: its messages and the actions on them; useAnswerStreams follows the answers.
 *
 * Messages live in `useState`, so a server-rendered page hands them to the browser.
 * Streams belong to the component that calls this, and close when its scope ends.
 */

export function useChat(chatId: string) {
  const requestFetch = useRequestFetch()
  const chat = useState<Chat | null>(`flume:chat:${chatId}`, () => null)
  const messages = useState<Message[]>(`flume:chat:${chatId}:messages`, () => [])
  // A long chat opens at its newest messages; this is the cursor of the ones before (null: none).
  const olderCursor = useState<string | null>(`flume:chat:${chatId}:older`, () => null)
  const loadingOlder = ref(false)
  const submitting = ref(false)
  const error = ref<MessageError | null>(null)
  /** The last question sent from here, with its files: Retry sends it again when its sending failed. */
  let lastSent: { content: string, attachments: readonly Attachment[] } | null = null

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
  // An answer's reasoning shares the batches, queued under its own key (ids have no spaces).
  const reasoningKey = (id: string) => REASONING_KEY + id
  const pendingText = createTextBatcher((key, text) => {
    const thought = key.startsWith(REASONING_KEY)
    const message = find(thought ? key.slice(REASONING_KEY.length) : key)
    if (!message) return
    if (thought) message.reasoning = (message.reasoning ?? '') + text
    else message.content += text
    if (message.status === 'pending') message.status = 'streaming'
  })
  const flush = pendingText.flush
  const pendingOf = (id: string): StreamPosition => ({ answer: pendingText.pendingLength(id), reasoning: pendingText.pendingLength(reasoningKey(id)) })

  const streams = useAnswerStreams({
    delta: pendingText.append,
    reasoning: (id, text) => pendingText.append(reasoningKey(id), text),
    usage(messageId, usage) {
      flush()
      const message = find(messageId)
      if (message) message.usage = usage
    },
    error(messageId, failure) {
      flush()
      const message = find(messageId)
      if (!message) return
      message.status = 'error'
      message.error = failure
    },
    end(messageId, outcome) {
      flush()
      void settle(messageId, outcome)
    },
  })

  /** The chat and its newest messages (docs/paging.md); with `before`, the ones before that cursor. */
  async function fetchChat(before?: string) {
    return await requestFetch<ChatWithMessages>(apiPaths.chat(chatId), {
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
      if (streams.isFollowing(messageId)) return
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
    if (message && isLive(message) && !streams.isFollowing(messageId)) Object.assign(message, fallback)
  }

  /** Follows every answer that is still being written, from the text already shown. */
  function resume() {
    for (const message of messages.value) {
      if (!isLive(message)) continue
      streams.follow(message.id, apiPaths.stream(chatId, message.id), positionAfter(message, pendingOf(message.id)))
    }
  }

  async function load() {
    const data = await fetchChat()
    streams.closeAll()
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

  /** Sends a question, with the ids of its uploaded files (docs/attachments.md), if any. */
  async function send(content: string, attachments: readonly Attachment[] = []): Promise<boolean> {
    if (!content.trim() && !attachments.length) return false
    return await submit(async () => {
      lastSent = { content, attachments }
      const res = await $fetch<PostMessageResponse>(apiPaths.messages(chatId), {
        method: 'POST',
        body: { content, ...(attachments.length ? { attachments: attachments.map(file => file.id) } : {}) },
      })
      replace(res.userMessage)
      replace(res.assistantMessage)
      if (isLive(res.assistantMessage)) streams.follow(res.assistantMessage.id, res.streamUrl)
    }, 'The message could not be sent.')
  }

  /** Stops the answer being written (the last one by default); its text so far stays. */
  async function stop(messageId = messages.value.findLast(isLive)?.id) {
    if (!messageId) return
    try {
      const stopped = await $fetch<Message>(apiPaths.message(chatId, messageId, 'stop'), { method: 'POST' })
      flush()
      streams.close(messageId)
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
      streams.follow(last.id, apiPaths.stream(chatId, last.id), positionAfter(last))
      return true
    }
    if (last?.role === 'assistant' && (last.status === 'error' || last.status === 'stopped')) {
      return await replaceLast(last, 'The answer could not be retried.')
    }
    if (lastSent) return await send(lastSent.content, lastSent.attachments)
    const content = messages.value.findLast(m => m.role === 'user')?.content
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
      const res = await $fetch<RetryResponse>(apiPaths.message(chatId, last.id, 'retry'), { method: 'POST' })
      const index = messages.value.indexOf(last)
      if (index === -1) messages.value.push(res.assistantMessage)
      else messages.value.splice(index, 1, res.assistantMessage)
      if (isLive(res.assistantMessage)) streams.follow(res.assistantMessage.id, res.streamUrl)
    }, failure)
  }

  /**
   * Edit and resend: the question `messageId` gets new words. The server replaces it and every
   * message after it (stopping an answer still running) and starts a new answer, followed here.
   * `attachments`: the files it has now (kept and new); absent, it keeps the ones it had.
   */
  async function edit(messageId: string, content: string, attachments?: readonly Attachment[]): Promise<boolean> {
    if (!content.trim() && !attachments?.length) return false
    return await submit(async () => {
      const res = await $fetch<PostMessageResponse>(apiPaths.message(chatId, messageId, 'edit'), {
        method: 'POST',
        body: { content, ...(attachments ? { attachments: attachments.map(file => file.id) } : {}) },
      })
      const index = messages.value.findIndex(m => m.id === messageId)
      const dropped = index === -1 ? [] : messages.value.slice(index)
      flush()
      for (const message of dropped) streams.close(message.id)
      messages.value.splice(index === -1 ? messages.value.length : index, dropped.length, res.userMessage, res.assistantMessage)
      if (isLive(res.assistantMessage)) streams.follow(res.assistantMessage.id, res.streamUrl)
    }, 'The edited message could not be sent.')
  }

  /** Continue: the stopped or failed last answer goes on from its text; new text is appended to it. */
  async function continueAnswer(): Promise<boolean> {
    const last = messages.value.at(-1)
    if (last?.role !== 'assistant' || !(last.status === 'error' || last.status === 'stopped')) return false
    return await submit(async () => {
      const res = await $fetch<RetryResponse>(apiPaths.message(chatId, last.id, 'continue'), { method: 'POST' })
      flush()
      streams.close(last.id)
      replace(res.assistantMessage)
      // The stream starts with the text already here: follow only what comes after it.
      if (isLive(res.assistantMessage)) streams.follow(last.id, res.streamUrl, positionAfter(res.assistantMessage))
    }, 'The answer could not be continued.')
  }

  tryOnScopeDispose(() => pendingText.clear())

  return {
    chat,
    messages,
    hasOlder: computed(() => olderCursor.value !== null),
    loadingOlder,
    loadOlder,
    status,
    error,
    reconnecting: streams.reconnecting,
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
