import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { streamCompletion, UpstreamError, type CompletionPart } from '../../server/generation/llm'

const encoder = new TextEncoder()

interface Script {
  status?: number
  chunks?: string[]
  delayMs?: number
  /** Breaks the body after this many chunks, like a dropped connection. */
  breakAfter?: number
  /** Sends this many chunks, then nothing more. */
  hangAfter?: number
  /** Waits this long before the response headers. */
  headersAfterMs?: number
}

/** An openai client whose `fetch` plays a script: the real SDK parses real SSE bytes. */
function clientFor(script: Script, seen: { aborted?: boolean } = {}) {
  const fetch = async (_url: string | URL | Request, init?: RequestInit) => {
    if (script.status && script.status >= 400) {
      return Response.json({ error: { message: `failure ${script.status}`, type: 'x' } }, { status: script.status })
    }
    const signal = init?.signal
    if (script.headersAfterMs) await new Promise(r => setTimeout(r, script.headersAfterMs))
    const chunks = script.chunks ?? []
    const frame = (payload: unknown) => encoder.encode(`data: ${JSON.stringify(payload)}\n\n`)
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        signal?.addEventListener('abort', () => {
          seen.aborted = true
          controller.error(signal.reason)
        })
        for (const [i, text] of chunks.entries()) {
          if (script.breakAfter === i) {
            // Let what was sent be read first, as with a socket that closes after some data.
            await new Promise(r => setTimeout(r, 20))
            return controller.error(new TypeError('terminated'))
          }
          if (script.hangAfter === i) return
          if (script.delayMs) await new Promise(r => setTimeout(r, script.delayMs))
          if (signal?.aborted) return
          controller.enqueue(frame({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] }))
        }
        controller.enqueue(frame({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 7, completion_tokens: chunks.length, total_tokens: 7 + chunks.length } }))
        controller.enqueue(encoder.encode('data: [DONE]\n\n'))
        controller.close()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
  }
  return new OpenAI({ apiKey: 'k', baseURL: 'http://upstream.invalid/v1', maxRetries: 0, fetch })
}

async function collect(client: OpenAI, opts: { signal?: AbortSignal, stallTimeoutMs?: number, onPart?: (p: CompletionPart) => void } = {}) {
  const parts: CompletionPart[] = []
  for await (const part of streamCompletion({
    client,
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    signal: opts.signal ?? new AbortController().signal,
    stallTimeoutMs: opts.stallTimeoutMs ?? 5000,
  })) {
    parts.push(part)
    opts.onPart?.(part)
  }
  return parts
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(() => undefined, e => e)
  expect(error).toBeInstanceOf(UpstreamError)
  return error as UpstreamError
}

describe('streamCompletion', () => {
  it('yields the text deltas in order, then the usage record', async () => {
    const parts = await collect(clientFor({ chunks: ['Hel', 'lo, ', 'wörld 👋'], delayMs: 5 }))
    expect(parts).toEqual([
      { type: 'delta', text: 'Hel' },
      { type: 'delta', text: 'lo, ' },
      { type: 'delta', text: 'wörld 👋' },
      { type: 'usage', promptTokens: 7, completionTokens: 3 },
    ])
  })

  it('merges the chunks that arrive in one network read into one delta, losing nothing', async () => {
    const chunks = Array.from({ length: 500 }, (_, i) => `t${i} `)
    // One body string: it arrives in a few reads, as a fast upstream's frames do over TCP.
    const body = chunks.map(c => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: c } }] })}\n\n`).join('')
      + 'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":500}}\n\ndata: [DONE]\n\n'
    const fetch = async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } })
    const parts = await collect(new OpenAI({ apiKey: 'k', baseURL: 'http://upstream.invalid/v1', maxRetries: 0, fetch }))
    const deltas = parts.filter(p => p.type === 'delta')
    expect(deltas.map(p => p.text).join('')).toBe(chunks.join(''))
    expect(deltas.length).toBeLessThan(chunks.length)
    expect(parts.at(-1)).toEqual({ type: 'usage', promptTokens: 7, completionTokens: 500 })
  })

  it('reports an error event inside the stream as upstream_error, after the text that came', async () => {
    const fetch = async () => new Response([
      'data: {"choices":[{"index":0,"delta":{"content":"So far"}}]}\n\n',
      'data: {"error":{"message":"The server overloaded mid-answer"}}\n\n',
    ].join(''), { headers: { 'content-type': 'text/event-stream' } })
    const client = new OpenAI({ apiKey: 'k', baseURL: 'http://upstream.invalid/v1', maxRetries: 0, fetch })
    const parts: CompletionPart[] = []
    const error = await failure(collect(client, { onPart: p => parts.push(p) }))
    expect(error.code).toBe('upstream_error')
    expect(error.message).toContain('overloaded')
    expect(parts).toEqual([{ type: 'delta', text: 'So far' }])
  })

  it('ends quietly, without throwing, when the signal aborts mid-answer, and aborts the request', async () => {
    const controller = new AbortController()
    const seen: { aborted?: boolean } = {}
    const parts = await collect(clientFor({ chunks: ['a', 'b', 'c', 'd', 'e'], delayMs: 20 }, seen), {
      signal: controller.signal,
      onPart: p => p.type === 'delta' && p.text === 'b' && controller.abort(),
    })
    expect(parts.map(p => p.type === 'delta' && p.text)).toEqual(['a', 'b'])
    expect(seen.aborted).toBe(true)
  })

  it.each([
    [401, 'upstream_auth'],
    [403, 'upstream_auth'],
    [429, 'upstream_rate_limited'],
    [500, 'upstream_unavailable'],
    [503, 'upstream_unavailable'],
    [400, 'upstream_error'],
    [404, 'upstream_error'],
  ])('maps an upstream %i to %s', async (status, code) => {
    const error = await failure(collect(clientFor({ status })))
    expect(error.code).toBe(code)
    expect(error.message.length).toBeGreaterThan(10)
  })

  it('reports a connection dropped mid-answer as upstream_unavailable, after the text that came', async () => {
    const parts: CompletionPart[] = []
    const error = await failure(collect(clientFor({ chunks: ['one ', 'two ', 'three'], breakAfter: 2 }), { onPart: p => parts.push(p) }))
    expect(error.code).toBe('upstream_unavailable')
    expect(parts).toEqual([{ type: 'delta', text: 'one ' }, { type: 'delta', text: 'two ' }])
  })

  it('gives up on a stream that goes silent with upstream_timeout', async () => {
    const error = await failure(collect(clientFor({ chunks: ['a', 'b', 'c'], hangAfter: 1 }), { stallTimeoutMs: 150 }))
    expect(error.code).toBe('upstream_timeout')
  })

  it('reports a server that cannot be reached as upstream_unavailable', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0 })
    const error = await failure(collect(client))
    expect(error.code).toBe('upstream_unavailable')
  })

  it('gives a slow first byte the request timeout, not the stall timeout (that one starts with the headers)', async () => {
    const parts = await collect(clientFor({ chunks: ['late ', 'but fine'], headersAfterMs: 250 }), { stallTimeoutMs: 100 })
    expect(parts.filter(p => p.type === 'delta').map(p => (p as { text: string }).text).join('')).toBe('late but fine')
  })
})

describe('the answer cap', () => {
  /** The JSON body of the one request `streamCompletion` makes with `maxTokens`. */
  async function requestWith(maxTokens: number | undefined, baseURL = 'http://upstream.invalid/v1') {
    let sent: Record<string, unknown> | undefined
    const client = new OpenAI({
      apiKey: 'k',
      baseURL,
      maxRetries: 0,
      fetch: async (_url: string | URL | Request, init?: RequestInit) => {
        sent = JSON.parse(String(init?.body))
        return new Response('data: [DONE]\n\n', { headers: { 'content-type': 'text/event-stream' } })
      },
    })
    for await (const _ of streamCompletion({ client, model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens, signal: new AbortController().signal, stallTimeoutMs: 1000 })) { /* drained */ }
    return sent!
  }

  it('sends max_tokens when there is a cap, and none for 0 or none', async () => {
    expect((await requestWith(4096)).max_tokens).toBe(4096)
    expect(await requestWith(0)).not.toHaveProperty('max_tokens')
    expect(await requestWith(undefined)).not.toHaveProperty('max_tokens')
  })

  it('to OpenAI itself as max_completion_tokens, which its reasoning models require', async () => {
    const sent = await requestWith(4096, 'https://api.openai.com/v1')
    expect(sent.max_completion_tokens).toBe(4096)
    expect(sent).not.toHaveProperty('max_tokens')
    expect(await requestWith(0, 'https://api.openai.com/v1')).not.toHaveProperty('max_completion_tokens')
  })
})

describe('a stream that is not what it should be', () => {
  /** An openai client whose server answers 200 with exactly `body`. */
  function rawClient(body: string, contentType = 'text/event-stream') {
    return new OpenAI({
      apiKey: 'k',
      baseURL: 'http://upstream.invalid/v1',
      maxRetries: 0,
      fetch: async () => new Response(body, { headers: { 'content-type': contentType } }),
    })
  }
  const chunk = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
  async function run(body: string, contentType?: string) {
    const parts: CompletionPart[] = []
    try {
      for await (const part of streamCompletion({ client: rawClient(body, contentType), model: 'm', messages: [{ role: 'user', content: 'hi' }], signal: new AbortController().signal, stallTimeoutMs: 1000 })) parts.push(part)
    }
    catch (error) {
      return { text: parts.map(p => p.type === 'delta' ? p.text : '').join(''), error: error as UpstreamError }
    }
    return { text: parts.map(p => p.type === 'delta' ? p.text : '').join(''), error: undefined }
  }

  it('a null chunk is a malformed chunk (upstream_error), and the text before it stays', async () => {
    const { text, error } = await run(chunk({ content: 'A ' }) + 'data: null\n\n')
    expect(text).toBe('A ')
    expect(error?.code).toBe('upstream_error')
  })

  it('content that is not a string is not text (upstream_error)', async () => {
    for (const content of [{ a: 1 }, 42, ['x']]) {
      const { text, error } = await run(chunk({ content: 'ok ' }) + chunk({ content }) + 'data: [DONE]\n\n')
      expect(text).toBe('ok ')
      expect(error?.code, JSON.stringify(content)).toBe('upstream_error')
    }
  })

  it('a 200 that is no event stream (an HTML page, a completion not streamed) is upstream_error', async () => {
    expect((await run('<html><body>Gateway</body></html>', 'text/html')).error?.code).toBe('upstream_error')
    expect((await run(JSON.stringify({ choices: [{ message: { content: 'whole' } }] }), 'application/json')).error?.code).toBe('upstream_error')
  })

  it('a body that ends before the answer does (no finish_reason, no [DONE]) was cut: upstream_unavailable, text kept', async () => {
    const { text, error } = await run(chunk({ content: 'half ' }) + chunk({ content: 'way' }) + 'data: {"choi')
    expect(text).toBe('half way')
    expect(error?.code).toBe('upstream_unavailable')
  })

  it('an answer that said why it ended is whole without [DONE]', async () => {
    const { text, error } = await run(chunk({ content: 'all' }) + chunk({}, 'stop'))
    expect(text).toBe('all')
    expect(error).toBeUndefined()
  })
})
