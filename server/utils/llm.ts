import type OpenAI from 'openai'
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai'

export type UpstreamErrorCode = 'upstream_auth' | 'upstream_rate_limited' | 'upstream_unavailable' | 'upstream_timeout' | 'upstream_error'

/** A failure of the model server, with a stable code and a message a person can act on. */
export class UpstreamError extends Error {
  constructor(readonly code: UpstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UpstreamError'
  }
}

export type CompletionPart
  = | { type: 'delta', text: string }
    | { type: 'usage', promptTokens: number, completionTokens: number }

export interface ChatTurn { role: 'system' | 'user' | 'assistant', content: string }

export interface CompletionRequest {
  client: OpenAI
  model: string
  messages: ChatTurn[]
  signal: AbortSignal
  /** Longest silence allowed between two chunks of the stream. */
  stallTimeoutMs: number
}

/**
 * The one place that talks to the model: an async generator over the openai SDK's streaming
 * chat completion. Yields text deltas and, last, the usage record. Knows nothing of HTTP.
 * Ends quietly when `signal` aborts; every other failure is thrown as an UpstreamError.
 */
export async function* streamCompletion(req: CompletionRequest): AsyncGenerator<CompletionPart> {
  const stall = new AbortController()
  const signal = AbortSignal.any([req.signal, stall.signal])
  let timer: ReturnType<typeof setTimeout> | undefined
  const arm = () => {
    clearTimeout(timer)
    timer = setTimeout(() => stall.abort(), req.stallTimeoutMs)
  }
  try {
    arm()
    const stream = await req.client.chat.completions.create({
      model: req.model,
      messages: req.messages,
      stream: true,
      stream_options: { include_usage: true },
    }, { signal })
    for await (const chunk of stream) {
      arm()
      const text = chunk.choices[0]?.delta?.content
      if (text) yield { type: 'delta', text }
      if (chunk.usage) {
        yield { type: 'usage', promptTokens: chunk.usage.prompt_tokens ?? 0, completionTokens: chunk.usage.completion_tokens ?? 0 }
      }
    }
  }
  catch (error) {
    if (req.signal.aborted) return
    if (stall.signal.aborted) throw stalled(error)
    throw toUpstreamError(error)
  }
  finally {
    clearTimeout(timer)
  }
  // openai 7 ends the loop without throwing when the signal aborts: tell a stall from a stop.
  if (!req.signal.aborted && stall.signal.aborted) throw stalled()
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
  const msg = error.message.replace(/\s+/g, ' ').trim()
  return msg.length > 200 ? `${msg.slice(0, 199)}…` : msg
}
