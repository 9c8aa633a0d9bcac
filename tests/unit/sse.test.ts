import { describe, expect, it } from 'vitest'
import { finalFrames, frame } from '../../server/http/sse'

/** Parses SSE the way a browser does: fields per line, a blank line ends an event. */
function parse(stream: string) {
  return stream.split('\n\n').filter(Boolean).map((block) => {
    const event: { id?: string, data: string[] } = { data: [] }
    for (const line of block.split('\n')) {
      const [field, ...rest] = line.split(':')
      const value = rest.join(':').replace(/^ /, '')
      if (field === 'id') event.id = value
      if (field === 'data') event.data.push(value)
    }
    return event
  })
}

describe('SSE frames', () => {
  it('keeps text with newlines and separators inside a single data line', () => {
    const text = 'line one\n\nline two\r\ndata: not a field\n: not a comment\u2028'
    const [event] = parse(frame({ answer: 42, reasoning: 0 }, { type: 'delta', text }))
    expect(event!.id).toBe('42')
    expect(event!.data).toHaveLength(1)
    expect(JSON.parse(event!.data[0]!)).toEqual({ type: 'delta', text })
  })

  it('ends a stream with usage, then error, then the [DONE] sentinel, all at the final offset', () => {
    const events = parse(finalFrames({ answer: 7, reasoning: 0 }, {
      status: 'error',
      usage: { promptTokens: 3, completionTokens: 2 },
      error: { code: 'upstream_unavailable', message: 'The model server did not answer.' },
    }))
    expect(events.map(e => e.id)).toEqual(['7', '7', '7'])
    expect(events.map(e => e.data[0])).toEqual([
      '{"type":"usage","promptTokens":3,"completionTokens":2}',
      '{"type":"error","code":"upstream_unavailable","message":"The model server did not answer."}',
      '[DONE]',
    ])
  })

  it('sends just the sentinel when there is nothing else to say', () => {
    expect(finalFrames({ answer: 0, reasoning: 0 }, { status: 'done' })).toBe('id: 0\ndata: [DONE]\n\n')
  })

  it('numbers frames with both offsets once there is reasoning, and with the answer\'s alone before', () => {
    expect(parse(frame({ answer: 0, reasoning: 0 }, { type: 'delta', text: 'a' }))[0]!.id).toBe('0')
    expect(parse(frame({ answer: 0, reasoning: 12 }, { type: 'reasoning', text: 'b' }))[0]!.id).toBe('0,12')
    expect(parse(finalFrames({ answer: 5, reasoning: 12 }, { status: 'done' })).map(e => e.id)).toEqual(['5,12'])
  })
})
