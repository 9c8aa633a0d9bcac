import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ModelsResponseSchema } from '../../shared/schemas'
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { createClient, openStream } from '../support/http'
import { chatAndSend, expectOffsets, waitFinal } from './helpers'

// A local OpenAI-compatible server (Ollama, llama.cpp, ...): OPENAI_BASE_URL only, no key,
// no FLUME_MODEL. The models are whatever that server lists.
let fake: FakeOpenAI
let flume: FlumeServer
beforeAll(async () => {
  fake = await startFakeOpenAI({ models: ['llama3.2', 'qwen2.5'] })
  flume = await startFlume({ OPENAI_BASE_URL: fake.url, FLUME_UPSTREAM_MAX_RETRIES: '0' })
})
afterAll(async () => {
  await flume?.stop()
  await fake?.close()
})

describe('OPENAI_BASE_URL alone (no API key, no FLUME_MODEL)', () => {
  it('offers the upstream models, with one of them as the default', async () => {
    const res = await createClient(flume.url).json('GET', '/api/models')
    expect(res.status).toBe(200)
    const body = ModelsResponseSchema.parse(res.body)
    expect(body.models.map(m => m.id).sort()).toEqual(['llama3.2', 'qwen2.5'])
    expect(['llama3.2', 'qwen2.5']).toContain(body.default)
  })

  it('answers through the upstream (not the demo model), with the advertised default model', async () => {
    const client = createClient(flume.url)
    const { default: advertised } = ModelsResponseSchema.parse((await client.json('GET', '/api/models')).body)
    fake.enqueue({ chunks: ['from ', 'the local server'] })
    const n = fake.completions.length
    const { chat, assistantMessage, streamUrl } = await chatAndSend(client, 'hello local model')
    const frames = await (await openStream(client, streamUrl)).readUntilDone()
    const upstream = await fake.waitForCompletion(n)
    expect(upstream.body.model).toBe(advertised)
    expect(expectOffsets(frames)).toBe('from the local server')
    expect(await waitFinal(client, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'from the local server', model: advertised })
  })

  it('a model the server lists can be picked', async () => {
    const client = createClient(flume.url)
    const n = fake.completions.length
    const { chat, assistantMessage } = await chatAndSend(client, 'x')
    await waitFinal(client, chat.id, assistantMessage.id)
    const res = await client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'with qwen', model: 'qwen2.5' })
    expect(res.status, res.text).toBe(202)
    expect((await fake.waitForCompletion(n + 1)).body.model).toBe('qwen2.5')
    await waitFinal(client, chat.id, res.body.assistantMessage.id)
  })
})
