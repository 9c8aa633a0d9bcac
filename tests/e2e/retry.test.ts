import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RetryResponseSchema } from '../../shared/schemas'
import { openStream } from '../support/http'
import { chatAndSend, createClient, expectError, getChat, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  // No generated titles: each is one more upstream call, and these tests count them.
  env = await startWithFake()
})
afterAll(async () => {
  await env?.stop()
})

async function retry(client = env.client, chatId: string, messageId: string) {
  return await client.json('POST', `/api/chats/${chatId}/messages/${messageId}/retry`)
}

describe('POST .../messages/:messageId/retry', () => {
  it('replaces a failed last answer by a new one, without repeating the question or sending the partial text upstream', async () => {
    env.fake.enqueue({ chunks: ['Half ', 'an ', 'answer'], delayMs: 5, dropAfter: 2 })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'Tell me about rivers')
    const failed = await waitFinal(env.client, chat.id, assistantMessage.id)
    expect(failed).toMatchObject({ status: 'error', content: 'Half an ' })

    env.fake.enqueue({ chunks: ['Rivers ', 'flow.'] })
    const res = await retry(env.client, chat.id, assistantMessage.id)
    expect(res.status, res.text).toBe(202)
    const { assistantMessage: next, streamUrl } = RetryResponseSchema.parse(res.body)
    expect(next.id).not.toBe(assistantMessage.id)
    expect(['pending', 'streaming']).toContain(next.status)
    const stream = await openStream(env.client, streamUrl)
    await stream.readUntilDone(5000)
    expect(stream.text).toBe('Rivers flow.')

    const stored = await getChat(env.client, chat.id)
    expect(stored.messages.map(m => [m.role, m.content, m.status])).toEqual([
      ['user', 'Tell me about rivers', 'done'],
      ['assistant', 'Rivers flow.', 'done'],
    ])
    const lastRequest = env.fake.completions.at(-1)!.body as { messages: { role: string, content: string }[] }
    expect(lastRequest.messages).toEqual([{ role: 'user', content: 'Tell me about rivers' }])
  })

  it('regenerates a done last answer in its place, with the same question', async () => {
    env.fake.enqueue({ chunks: ['First ', 'take.'] })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'Name a river')
    expect(await waitFinal(env.client, chat.id, assistantMessage.id)).toMatchObject({ status: 'done', content: 'First take.' })

    env.fake.enqueue({ chunks: ['Second ', 'take.'] })
    const res = await retry(env.client, chat.id, assistantMessage.id)
    expect(res.status, res.text).toBe(202)
    const { assistantMessage: next } = RetryResponseSchema.parse(res.body)
    expect(next.id).not.toBe(assistantMessage.id)
    expect(await waitFinal(env.client, chat.id, next.id)).toMatchObject({ status: 'done', content: 'Second take.' })
    const stored = await getChat(env.client, chat.id)
    expect(stored.messages.map(m => [m.role, m.content])).toEqual([
      ['user', 'Name a river'],
      ['assistant', 'Second take.'],
    ])
    const lastRequest = env.fake.completions.at(-1)!.body as { messages: { role: string, content: string }[] }
    expect(lastRequest.messages).toEqual([{ role: 'user', content: 'Name a river' }])
  })

  it('answers 409 for an answer that is not the last one, and 404 for another identity', async () => {
    const { chat, assistantMessage } = await chatAndSend(env.client, 'first')
    await waitFinal(env.client, chat.id, assistantMessage.id)

    const stranger = createClient(env.flume.url)
    expectError(await retry(stranger, chat.id, assistantMessage.id), 404, 'not_found')

    env.fake.enqueue({ status: 500 })
    const second = await send(env.client, chat.id, 'second')
    await waitFinal(env.client, chat.id, second.assistantMessage.id)
    expectError(await retry(env.client, chat.id, assistantMessage.id), 409, 'not_retryable')
  })

  it('answers 409 while the last answer is still running', async () => {
    env.fake.enqueue({ chunks: Array.from({ length: 40 }, (_, i) => `w${i} `), delayMs: 25 })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'slow one')
    expectError(await retry(env.client, chat.id, assistantMessage.id), 409, 'not_retryable')
    await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
  })

  it('retries a stopped answer, and only once when asked twice at the same time', async () => {
    env.fake.enqueue({ chunks: Array.from({ length: 50 }, (_, i) => `w${i} `), delayMs: 20 })
    const { chat, assistantMessage } = await chatAndSend(env.client, 'long one')
    const stopped = await env.client.json('POST', `/api/chats/${chat.id}/messages/${assistantMessage.id}/stop`)
    expect(stopped.body.status).toBe('stopped')
    const answers = await Promise.all([1, 2].map(() => retry(env.client, chat.id, assistantMessage.id)))
    // The loser finds the answer already replaced (409) or already gone (404).
    expect(answers.map(a => a.status).sort()).toEqual([202, expect.toBeOneOf([404, 409])])
    const fresh = RetryResponseSchema.parse(answers.find(a => a.status === 202)!.body).assistantMessage
    await waitFinal(env.client, chat.id, fresh.id)
    expect((await getChat(env.client, chat.id)).messages).toHaveLength(2)
  })
})
