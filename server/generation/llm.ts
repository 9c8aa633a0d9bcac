import { createParser } from 'eventsource-parser'
import type OpenAI from 'openai'
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai'

import type { UpstreamErrorCode } from '#shared/codes'
import { ThinkSplitter, reasoningOf, type ReasoningField } from './reasoning'

export type { UpstreamErrorCode }

/** A failure of the model server, with a stable code and a message a person can act on. */
export class UpstreamError extends Error {
  constructor(readonly code: UpstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UpstreamError'
  }
}

export type CompletionPart
  = | { type: 'delta', text: string }
    | { type: 'reasoning', text: string }
    | { type: 'usage', promptTokens: number, completionTokens: number, reasoningTokens?: number }

/** A part of a question with images (OpenAI's content parts). */
export type ContentPart
  = | { type: 'text', text: string }
    | { type: 'image_url', image_url: { url: string } }

/** One message sent to the model: text, or text and images for a question with images attached. */
export type ChatTurn
  = | { role: 'system' | 'assistant', content: string }
    | { role: 'user', content: string | ContentPart[] }

export interface CompletionRequest {
  client: OpenAI
  model: string
  messages: ChatTurn[]
  /** Omitted: the model's default. */
  temperature?: number
  /** `max_tokens`: the longest answer this request may cost. Omitted (or 0): the model's own limit. */
  maxTokens?: number
  signal: AbortSignal
  /** Longest silence allowed between two chunks of the stream. */
  stallTimeoutMs: number
}

interface ChunkPayload {
  choices?: { delta?: { content?: unknown } & Record<string, unknown>, finish_reason?: string | null }[]
  usage?: { prompt_tokens?: number, completion_tokens?: number, completion_tokens_details?: { reasoning_tokens?: unknown } | null } | null
  error?: { message?: string } | string
}

/**
 * The answer cap under the name the server knows: OpenAI's own API wants `max_completion_tokens`
 * (its reasoning models refuse `max_tokens`, which it keeps only for older models), while
 * OpenAI-compatible servers (Ollama, llama.cpp, vLLM, ...) know `max_tokens`.
 */
export function answerCap(client: Pick<OpenAI, 'baseURL'>, tokens: number | undefined): { max_tokens?: number, max_completion_tokens?: number } {
  if (!tokens) return {}
  return /^https:\/\/api\.openai\.com\//.test(client.baseURL) ? { max_completion_tokens: tokens } : { max_tokens: tokens }
}

/** The abort reason when the generator is left: nothing reads it, so one shared instance. */
const LEFT = new Error('The completion stream was left.')

/**
 * The one place that talks to the model: an async generator over the openai SDK's streaming
 * chat completion. Yields text and reasoning deltas (reasoning.ts: wherever the server puts it)
 * and, last, the usage record. Knows nothing of HTTP.
 * Ends quietly when `signal` aborts; every other failure is thrown as an UpstreamError.
 *
 * The SDK makes the request (auth, retries, timeouts, typed errors for bad statuses); the body is
 * read with eventsource-parser, and the deltas of one network read are yielded together. The
 * SDK's own stream reader costs about twice the CPU per token through its layers of async
 * iterators, which showed as the main cost of relaying (bench/README.md).
 */
export async function* streamCompletion(req: CompletionRequest): AsyncGenerator<CompletionPart> {
  // One controller for both the caller's stop and our stall timer. (AbortSignal.any would make
  // every `aborted` check walk its sources, once per chunk.)
  const controller = new AbortController()
  let stalledOut = false
  const onAbort = () => controller.abort(req.signal.reason)
  if (req.signal.aborted) return
  req.signal.addEventListener('abort', onAbort, { once: true })
  // Armed once the response headers are in (waiting for them is the SDK's `timeout`, with its
  // retries), then re-armed on every read with refresh(), much cheaper than clearTimeout + setTimeout.
  let timer: ReturnType<typeof setTimeout> | undefined

  let text = ''
  let reasoning = ''
  const think = new ThinkSplitter()
  const reasoningField: { current?: ReasoningField } = {}
  let usage: CompletionPart | undefined
  let failure: UpstreamError | undefined
  let finished = false
  // Whether a chunk said why the answer ended: a body that ends before that (or [DONE]) was cut off.
  let ended = false
  let events = 0
  const malformed = () => new UpstreamError('upstream_error', 'The model server sent something that is not a completion chunk.')
  const parser = createParser({
    onEvent(event) {
      if (finished || failure) return
      events++
      if (event.data === '[DONE]') {
        finished = true
        return
      }
      let payload: ChunkPayload
      try {
        payload = JSON.parse(event.data) as ChunkPayload
      }
      catch {
        failure = malformed()
        return
      }
      if (!payload || typeof payload !== 'object') {
        failure = malformed()
        return
      }
      if (payload.error) {
        const message = typeof payload.error === 'string' ? payload.error : payload.error.message ?? 'unknown error'
        failure = new UpstreamError('upstream_error', `The model server reported an error: ${clip(message)}`)
        return
      }
      const choice = Array.isArray(payload.choices) ? payload.choices[0] : undefined
      const delta = choice?.delta && typeof choice.delta === 'object' ? choice.delta : undefined
      const content = delta?.content
      if (delta) reasoning += reasoningOf(delta, reasoningField)
      if (typeof content === 'string') {
        if (think.answering) {
          text += content
        }
        else {
          const parts = think.push(content)
          reasoning += parts.reasoning
          text += parts.answer
        }
      }
      else if (content !== undefined && content !== null) {
        failure = malformed()
        return
      }
      if (choice?.finish_reason) ended = true
      if (payload.usage) {
        const thought = payload.usage.completion_tokens_details?.reasoning_tokens
        usage = {
          type: 'usage',
          promptTokens: payload.usage.prompt_tokens ?? 0,
          completionTokens: payload.usage.completion_tokens ?? 0,
          ...(typeof thought === 'number' && thought > 0 ? { reasoningTokens: thought } : {}),
        }
      }
    },
  })

  try {
    const response = await req.client.chat.completions.create({
      model: req.model,
      messages: req.messages,
      ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
      ...answerCap(req.client, req.maxTokens),
      stream: true,
      stream_options: { include_usage: true },
    }, { signal: controller.signal }).asResponse()
    if (!response.body) throw new UpstreamError('upstream_error', 'The model server sent an empty answer.')
    timer = setTimeout(() => {
      stalledOut = true
      controller.abort()
    }, req.stallTimeoutMs)
    const reader = response.body.getReader()
    const decoder = new TextDecoder()
    for (;;) {
      const { value, done } = await reader.read()
      timer.refresh()
      if (done) break
      parser.feed(decoder.decode(value, { stream: true }))
      if (reasoning) {
        yield { type: 'reasoning', text: reasoning }
        reasoning = ''
      }
      if (text) {
        yield { type: 'delta', text }
        text = ''
      }
      if (failure) throw failure
      if (finished) break
    }
    // A 200 whose body is no event stream (an HTML page, a completion that is not streamed).
    if (!events) throw new UpstreamError('upstream_error', 'The model server did not answer with a stream of completion chunks.')
    // The body ended cleanly but the answer did not: the connection was cut (a proxy's timeout,
    // a crashed server behind a balancer). The text so far is kept.
    if (!finished && !ended) throw new UpstreamError('upstream_unavailable', 'The connection to the model server was lost mid-answer. Retry to get a full answer.')
    // What an unfinished `<think>` tag held back.
    const rest = think.flush()
    if (rest.reasoning) yield { type: 'reasoning', text: rest.reasoning }
    if (rest.answer) yield { type: 'delta', text: rest.answer }
    if (usage) yield usage
  }
  catch (error) {
    if (req.signal.aborted) return
    if (stalledOut) throw stalled(error)
    const failure = toUpstreamError(error)
    throw sentImages(req.messages) && refusesImages(failure) ? noVision(failure) : failure
  }
  finally {
    clearTimeout(timer)
    req.signal.removeEventListener('abort', onAbort)
    // Leaving early (the consumer stopped iterating, or [DONE] came before the body's end) must
    // not leave the request open. With a reason given, no DOMException (and its stack) is made.
    if (!controller.signal.aborted) controller.abort(LEFT)
  }
}

/** Whether the request carried images (a question with image attachments). */
function sentImages(messages: ChatTurn[]): boolean {
  return messages.some(m => Array.isArray(m.content) && m.content.some(part => part.type === 'image_url'))
}

/**
 * How servers say a model cannot take images: OpenAI ("image_url is only supported by certain
 * models"), vLLM ("not a multimodal model"), llama.cpp ("image input is not supported ... mmproj"),
 * Ollama and others ("does not support images"/"vision").
 */
const REFUSES_IMAGES = /image|vision|multi-?modal|mmproj/i

function refusesImages(failure: UpstreamError): boolean {
  if (failure.code !== 'upstream_error' && failure.code !== 'upstream_unavailable') return false
  const cause = failure.cause as { status?: number, message?: string } | undefined
  if (failure.code === 'upstream_unavailable' && typeof cause?.status !== 'number') return false
  return REFUSES_IMAGES.test(`${failure.message} ${cause?.message ?? ''}`)
}

function noVision(cause: UpstreamError) {
  return new UpstreamError('upstream_no_vision', 'This model cannot look at images. Pick a model that can (for example gpt-4o, llama3.2-vision or qwen2.5-vl), or edit the question to remove its images, then retry.', { cause })
}

function stalled(cause?: unknown) {
  return new UpstreamError('upstream_timeout', 'The model server stopped sending. Try again in a moment.', { cause })
}

export function toUpstreamError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error
  if (error instanceof APIConnectionTimeoutError) {
    return new UpstreamError('upstream_timeout', 'The model server took too long to answer. Try again in a moment.', { cause: error })
  }
  if (error instanceof APIUserAbortError) {
    return new UpstreamError('upstream_timeout', 'The request to the model server was cancelled.', { cause: error })
  }
  if (error instanceof APIConnectionError) {
    return new UpstreamError('upstream_unavailable', 'The model server could not be reached. Check OPENAI_BASE_URL and that the server is running, then retry.', { cause: error })
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const status = error.status
    if (status === 401 || status === 403) {
      return new UpstreamError('upstream_auth', 'The model server refused the API key. Check OPENAI_API_KEY.', { cause: error })
    }
    if (status === 429) {
      return new UpstreamError('upstream_rate_limited', 'The model server is rate limiting requests. Wait a moment, then retry.', { cause: error })
    }
    if (status >= 500) {
      return new UpstreamError('upstream_unavailable', 'The model server had a problem answering. Retry in a moment.', { cause: error })
    }
    return new UpstreamError('upstream_error', `The model server rejected the request (${status}): ${shortMessage(error)}`, { cause: error })
  }
  if (error instanceof APIError) {
    // An error event inside the stream: the SDK gives no status.
    return new UpstreamError('upstream_error', `The model server reported an error: ${shortMessage(error)}`, { cause: error })
  }
  // The body broke off (socket closed, parse failure of a truncated frame, ...).
  return new UpstreamError('upstream_unavailable', 'The connection to the model server was lost mid-answer. Retry to get a full answer.', { cause: error })
}

function shortMessage(error: Error): string {
  return clip(error.message)
}

function clip(message: string): string {
  const msg = message.replace(/\s+/g, ' ').trim()
  return msg.length > 200 ? `${msg.slice(0, 199)}…` : msg
}
