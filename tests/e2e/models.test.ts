import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatSchema, ChatWithMessagesSchema } from '../../shared/schemas'
import { createClient, expectError, getChat, newChat, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  // No generated titles: each is one more upstream call, and these tests count them.
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

async function patch(chatId: string, body: unknown, client = env.client) {
  return await client.json('PATCH', `/api/chats/${chatId}`, body)
}

/** The model named in the last completion request upstream. */
function lastUpstreamModel() {
  return (env.fake.completions.at(-1)!.body as { model: string }).model
}

describe('a model per chat', () => {
  it('PATCH { model } remembers it without moving the chat, and the chat\'s messages use it upstream', async () => {
    const chat = await newChat(env.client, 'models')
    expect(chat.model).toBeUndefined()
    const res = await patch(chat.id, { model: 'gpt-fake-mini' })
    expect(res.status, res.text).toBe(200)
    const patched = ChatSchema.parse(res.body)
    expect(patched).toMatchObject({ id: chat.id, title: 'models', model: 'gpt-fake-mini', updatedAt: chat.updatedAt })
    expect((await getChat(env.client, chat.id)).model).toBe('gpt-fake-mini')

    const posted = await send(env.client, chat.id, 'hello')
    expect(posted.assistantMessage.model).toBe('gpt-fake-mini')
    await waitFinal(env.client, chat.id, posted.assistantMessage.id)
    expect(lastUpstreamModel()).toBe('gpt-fake-mini')

    // null goes back to the server's default.
    expect(ChatSchema.parse((await patch(chat.id, { model: null })).body).model).toBeUndefined()
    const next = await send(env.client, chat.id, 'again')
    await waitFinal(env.client, chat.id, next.assistantMessage.id)
    expect(lastUpstreamModel()).toBe('gpt-fake')
  })

  it('a model named by POST /messages is used and remembered for the next messages', async () => {
    const chat = await newChat(env.client)
    const first = await send(env.client, chat.id, 'one', 'gpt-fake-mini')
    await waitFinal(env.client, chat.id, first.assistantMessage.id)
    expect(lastUpstreamModel()).toBe('gpt-fake-mini')
    expect((await getChat(env.client, chat.id)).model).toBe('gpt-fake-mini')

    const second = await send(env.client, chat.id, 'two')
    expect(second.assistantMessage.model).toBe('gpt-fake-mini')
    await waitFinal(env.client, chat.id, second.assistantMessage.id)
    expect(lastUpstreamModel()).toBe('gpt-fake-mini')
  })

  it('regenerating an answer uses the model picked since', async () => {
    const chat = await newChat(env.client)
    const posted = await send(env.client, chat.id, 'which model?')
    await waitFinal(env.client, chat.id, posted.assistantMessage.id)
    expect(lastUpstreamModel()).toBe('gpt-fake')
    await patch(chat.id, { model: 'gpt-fake-mini' })
    const res = await env.client.json('POST', `/api/chats/${chat.id}/messages/${posted.assistantMessage.id}/retry`)
    expect(res.status, res.text).toBe(202)
    await waitFinal(env.client, chat.id, res.body.assistantMessage.id)
    expect(lastUpstreamModel()).toBe('gpt-fake-mini')
  })

  it('refuses a model the server does not offer, an empty body, and another identity\'s chat', async () => {
    const chat = await newChat(env.client, 'kept')
    await patch(chat.id, { model: 'gpt-fake' })
    expectError(await patch(chat.id, { model: 'no-such-model' }), 400, 'unknown_model')
    expectError(await patch(chat.id, { title: 'new', model: 'no-such-model' }), 400, 'unknown_model')
    expectError(await patch(chat.id, {}), 400, 'invalid_body')
    expectError(await patch(chat.id, { model: '' }), 400, 'invalid_body')
    expectError(await patch(chat.id, { model: 42 }), 400, 'invalid_body')
    expectError(await patch(chat.id, { model: 'gpt-fake-mini' }, createClient(env.flume.url)), 404, 'not_found')
    const stored = ChatWithMessagesSchema.parse((await env.client.json('GET', `/api/chats/${chat.id}`)).body)
    expect(stored).toMatchObject({ title: 'kept', model: 'gpt-fake' })
  })

  it('PATCH with title and model changes both', async () => {
    const chat = await newChat(env.client)
    const res = await patch(chat.id, { title: 'Both', model: 'gpt-fake-mini' })
    expect(res.status, res.text).toBe(200)
    expect(ChatSchema.parse(res.body)).toMatchObject({ title: 'Both', model: 'gpt-fake-mini' })
  })
})

describe('FLUME_MODELS is an allowlist', () => {
  it('only its models are offered and accepted, even when the server lists more', async () => {
    const own = await startWithFake({ FLUME_MODELS: 'gpt-fake-mini,not-on-server', FLUME_MODEL: 'gpt-fake-mini' })
    try {
      const list = await own.client.json<{ models: { id: string }[], default: string }>('GET', '/api/models')
      expect(list.status).toBe(200)
      // The server lists gpt-fake and gpt-fake-mini: of the allowlist only the one it has.
      expect(list.body.models.map(m => m.id)).toEqual(['gpt-fake-mini'])
      const chat = await newChat(own.client)
      expectError(await own.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'hi', model: 'gpt-fake' }), 400, 'unknown_model')
      expectError(await own.client.json('PATCH', `/api/chats/${chat.id}`, { model: 'gpt-fake' }), 400, 'unknown_model')
      expectError(await own.client.json('POST', '/api/chats', { content: 'hi', model: 'gpt-fake' }), 400, 'unknown_model')
      const posted = await send(own.client, chat.id, 'hello', 'gpt-fake-mini')
      expect(posted.assistantMessage.model).toBe('gpt-fake-mini')
    }
    finally {
      await own.stop()
    }
  })
})
