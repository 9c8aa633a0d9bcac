import type { H3Event } from 'h3'
import { describe, expect, it } from 'vitest'
import { Run } from '../../server/generation/run'
import { sendRun } from '../../server/http/sse'

/** An event as h3 builds it on web presets (workers): no Node socket, the Request's signal. */
function webEvent(request: Request) {
  return { node: { req: {}, res: {} }, web: { request } } as unknown as H3Event
}

async function readUntil(body: ReadableStream<Uint8Array>, done: (text: string) => boolean) {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (!done(text)) {
    const { value, done: ended } = await reader.read()
    if (ended) break
    text += decoder.decode(value, { stream: true })
  }
  return { text, reader }
}

describe('sendRun on web presets', () => {
  it('streams a run as SSE in a ReadableStream and ends after [DONE]', async () => {
    const run = new Run('m', 'o')
    const res = await sendRun(webEvent(new Request('http://x/')), run.reader(0)) as Response
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform')
    run.append('Hello')
    run.append(', world')
    run.end({ status: 'done' })
    const { text } = await readUntil(res.body!, t => t.includes('[DONE]'))
    expect(text).toContain('"text":"Hello')
    expect(text.endsWith('id: 12\ndata: [DONE]\n\n')).toBe(true)
  })

  it('notices a client that left (the body is cancelled) and stops reading the run', async () => {
    const run = new Run('m', 'o')
    const reader = run.reader(0)
    const res = await sendRun(webEvent(new Request('http://x/')), reader) as Response
    run.append('first')
    const { reader: body } = await readUntil(res.body!, t => t.includes('first'))
    await body.cancel()
    expect(reader.closed).toBe(true)
    // The run itself goes on: leaving does not stop generation.
    run.append(' second')
    expect(run.text()).toBe('first second')
    expect(run.controller.signal.aborted).toBe(false)
  })

  it('notices a client that left through the request\'s abort signal', async () => {
    const run = new Run('m', 'o')
    const reader = run.reader(0)
    const abort = new AbortController()
    await sendRun(webEvent(new Request('http://x/', { signal: abort.signal })), reader)
    abort.abort()
    expect(reader.closed).toBe(true)
  })
})
