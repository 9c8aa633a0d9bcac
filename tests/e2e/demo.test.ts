import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ModelsResponseSchema } from '../../shared/schemas'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, openStream } from '../support/http'
import { chatAndSend, expectOffsets, waitFinal } from './helpers'

// No OPENAI_* at all: the built-in demo model answers.
let flume: FlumeServer
beforeAll(async () => {
  flume = await startFlume({ FLUME_DEMO_DELAY_MS: '1' })
})
afterAll(async () => {
  await flume?.stop()
})

describe('the demo model (no OPENAI_API_KEY, no OPENAI_BASE_URL)', () => {
  it('is offered by GET /api/models as the default', async () => {
    const res = await createClient(flume.url).json('GET', '/api/models')
    expect(res.status).toBe(200)
    const body = ModelsResponseSchema.parse(res.body)
    expect(body.models.map(m => m.id)).toContain(body.default)
  })

  it('streams a markdown answer with a code block and a list that says how to connect a model', async () => {
    const client = createClient(flume.url)
    const { chat, assistantMessage, streamUrl } = await chatAndSend(client, 'Hello, who are you?')
    const stream = await openStream(client, streamUrl)
    expect(stream.status).toBe(200)
    const frames = await stream.readUntilDone(20_000)
    const text = expectOffsets(frames)
    expect(frames.filter(f => f.data !== '[DONE]').length).toBeGreaterThan(2) // really streamed, not one blob
    expect(text).toMatch(/^```/m) // a fenced code block
    expect(text).toMatch(/^\s*(?:[-*+]|\d+\.)\s+\S/m) // a list item
    expect(text).toContain('OPENAI_API_KEY')
    const final = await waitFinal(client, chat.id, assistantMessage.id)
    expect(final.status).toBe('done')
    expect(final.content).toBe(text)
  })

  it('can be stopped like a real model', async () => {
    const slow = await startFlume({ FLUME_DEMO_DELAY_MS: '15' })
    try {
      const client = createClient(slow.url)
      const { chat, assistantMessage, streamUrl } = await chatAndSend(client, 'stop me')
      const stream = await openStream(client, streamUrl)
      await stream.waitForText(t => t.length > 10)
      const res = await client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
      expect(res.status).toBe(200)
      expect(res.body.status).toBe('stopped')
      const frames = await stream.readUntilDone()
      expect(frames.at(-1)!.data).toBe('[DONE]')
      const final = await waitFinal(client, chat.id, assistantMessage.id)
      expect(final).toMatchObject({ status: 'stopped', content: stream.text })
      expect(final.content).not.toContain('Happy chatting')

      // Continue: the demo goes on from where it stopped, ending as an uninterrupted answer would.
      const again = await client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/continue`)
      expect(again.status, again.text).toBe(202)
      const continued = await waitFinal(client, chat.id, assistantMessage.id)
      expect(continued.status).toBe('done')
      const whole = await chatAndSend(client, 'stop me')
      expect(continued.content).toBe((await waitFinal(client, whole.chat.id, whole.assistantMessage.id)).content)
    }
    finally {
      await slow.stop()
    }
  })
})
