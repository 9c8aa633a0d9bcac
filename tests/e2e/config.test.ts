import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

describe('a bad configuration', () => {
  it('a FLUME_SESSION_SECRET shorter than 32 characters stops the server at boot, saying why', async () => {
    const error = await startFlume({ FLUME_SESSION_SECRET: 'too-short' }).then(
      async (server) => {
        await server.stop()
        return undefined
      },
      (e: Error) => e,
    )
    expect(error?.message).toContain('FLUME_SESSION_SECRET must be at least 32 characters long')
  })

  it('a long enough FLUME_SESSION_SECRET is used, and cookies signed with it survive a restart', async () => {
    const env = { FLUME_SESSION_SECRET: 'x'.repeat(40) }
    const dataDir = mkdtempSync(join(tmpdir(), 'flume-secret-'))
    try {
      const first = await startFlume(env, { dataDir })
      const client = createClient(first.url)
      expect((await client.json('POST', '/api/chats', { title: 'kept' })).status).toBe(201)
      await first.stop()
      const second = await startFlume(env, { dataDir })
      try {
        const res = await createClient(second.url).json('GET', '/api/chats', undefined, { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') })
        expect(res.status).toBe(200)
        expect(res.body.map((c: { title: string }) => c.title)).toEqual(['kept'])
        // No generated secret was written: the configured one signs the cookies.
        expect(existsSync(join(dataDir, 'session-secret'))).toBe(false)
      }
      finally {
        await second.stop()
      }
    }
    finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
