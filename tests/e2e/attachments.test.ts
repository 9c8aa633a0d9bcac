/**
 * Files attached to questions (docs/attachments.md): uploaded by content type sniffed from their
 * bytes, limited by environment, sent to the model as `image_url` parts and delimited text,
 * served back to their owner only and safely, kept or dropped by an edit, sent again by Retry and
 * Continue, and gone with their chat.
 */
import { deflateSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Attachment } from '../../shared/schemas'
import { createGate } from '../support/fake-openai'
import { createClient, openStream, type Client } from '../support/http'
import { chatAndSend, expectError, getChat, newChat, send, startWithFake, waitFinal, type Env } from './helpers'

let env: Env
beforeAll(async () => {
  env = await startWithFake({
    FLUME_ATTACHMENT_MAX_BYTES: '200000',
    FLUME_ATTACHMENTS_MAX_COUNT: '3',
    FLUME_ATTACHMENTS_MAX_TOTAL_BYTES: '300000',
  })
})
afterAll(async () => {
  await env?.stop()
})

/** A real PNG of `size` x `size` pixels (solid colour). */
function png(size = 4): Buffer {
  const crc = (data: Buffer) => {
    let c = ~0
    for (const byte of data) {
      c ^= byte
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xEDB88320 & -(c & 1))
    }
    return ~c >>> 0
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type), data])
    const out = Buffer.alloc(12 + data.length)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc(body), 8 + data.length)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8
  header[9] = 2
  const rows = Buffer.concat(Array.from({ length: size }, () => Buffer.from([0, ...Array.from({ length: size }, () => [200, 80, 40]).flat()])))
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))])
}

async function upload(client: Client, bytes: Uint8Array | string, name: string, type = 'application/octet-stream') {
  const res = await client.raw<Attachment>('POST', `/api/attachments?name=${encodeURIComponent(name)}`, typeof bytes === 'string' ? Buffer.from(bytes) : bytes, { 'content-type': type })
  return res
}

async function uploaded(client: Client, bytes: Uint8Array | string, name: string, type?: string): Promise<Attachment> {
  const res = await upload(client, bytes, name, type)
  expect(res.status, res.text).toBe(201)
  return res.body
}

const CSV = 'city,temp\nOslo,3\nRome,18\n'
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>document.title="pwned"</script></svg>'

describe('uploads', () => {
  it('takes images by their bytes and any UTF-8 text, whatever their name or Content-Type says', async () => {
    const image = await uploaded(env.client, png(), 'photo.txt', 'text/plain')
    expect(image).toMatchObject({ kind: 'image', mediaType: 'image/png', name: 'photo.txt', size: png().length, url: `/api/attachments/${image.id}` })
    const jpeg = await uploaded(env.client, Buffer.from([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]), 'x.jpg')
    expect(jpeg).toMatchObject({ kind: 'image', mediaType: 'image/jpeg' })
    const csv = await uploaded(env.client, CSV, 'data.csv', 'image/png')
    expect(csv).toMatchObject({ kind: 'text', mediaType: 'text/plain', size: CSV.length })
    const svg = await uploaded(env.client, SVG, 'logo.svg', 'image/svg+xml')
    expect(svg).toMatchObject({ kind: 'text', mediaType: 'text/plain' })
  })

  it('serves a file back to its owner only, so that none can run as a page of the app', async () => {
    const image = await uploaded(env.client, png(), 'p.png')
    const res = await env.client.fetch(image.url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/png')
    expect(res.headers.get('content-disposition')).toBe('inline; filename*=UTF-8\'\'p.png')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toBe('default-src \'none\'; sandbox')
    expect(Buffer.from(await res.arrayBuffer()).equals(png())).toBe(true)

    const svg = await uploaded(env.client, SVG, 'evil "name".svg\r\nX-Injected: 1')
    const text = await env.client.fetch(svg.url)
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(text.headers.get('content-disposition')).toMatch(/^attachment; filename\*=UTF-8''/)
    expect(text.headers.get('x-injected')).toBeNull()
    expect(svg.name).not.toMatch(/[\r\n"]/)
    expect(await text.text()).toBe(SVG)

    const stranger = createClient(env.client.baseUrl)
    expectError(await stranger.json('GET', image.url), 404, 'not_found')
  })

  it('refuses other files with 415, and files over the limit with 413, counting a chunked body as it comes', async () => {
    expectError(await upload(env.client, Buffer.from([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0]), 'a.zip'), 415, 'unsupported_attachment')
    expectError(await upload(env.client, Buffer.from([0xC3, 0x28, 0x41]), 'bad-utf8.txt'), 415, 'unsupported_attachment')
    expectError(await upload(env.client, '', 'empty.txt'), 400, 'invalid_body')
    expectError(await upload(env.client, 'x'.repeat(200_001), 'big.txt'), 413, 'attachment_too_large')
    // No Content-Length: refused once the bytes cross the limit.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 30; i++) controller.enqueue(new Uint8Array(10_000).fill(0x61))
        controller.close()
      },
    })
    const res = await env.client.fetch('/api/attachments?name=stream.txt', { method: 'POST', body: chunked, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(413)
    expect((await res.json()).data.code).toBe('attachment_too_large')
  })

  it('says its limits in GET /api/models, for clients to check before they upload', async () => {
    const res = await env.client.json('GET', '/api/models')
    expect(res.body.attachments).toEqual({ count: 3, bytes: 200_000, totalBytes: 300_000, kinds: ['image', 'text'] })
  })

  it('removes an unsent upload taken out of the composer', async () => {
    const file = await uploaded(env.client, 'notes', 'n.txt')
    expect((await env.client.fetch(file.url, { method: 'DELETE' })).status).toBe(204)
    expectError(await env.client.json('GET', file.url), 404, 'not_found')
  })
})

describe('questions with attachments', () => {
  it('sends images as image_url parts and text files as delimited text, exactly, and shows them on the question', async () => {
    const image = await uploaded(env.client, png(), 'chart.png')
    const csv = await uploaded(env.client, CSV, 'data.csv')
    const chat = await newChat(env.client)
    env.fake.enqueue({ chunks: ['Seen.'] })
    const before = env.fake.completions.length
    const posted = await send(env.client, chat.id, 'What is in these?', undefined, [csv.id, image.id])
    expect(posted.userMessage.attachments).toEqual([csv, image])
    await waitFinal(env.client, chat.id, posted.assistantMessage.id)
    const request = env.fake.completions[before]!
    expect(request.body.messages).toEqual([{
      role: 'user',
      content: [
        { type: 'text', text: `What is in these?\n\n<file name="data.csv">\n${CSV}</file>` },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png().toString('base64')}` } },
      ],
    }])
    const stored = await getChat(env.client, chat.id)
    expect(stored.messages[0]!.attachments).toEqual([csv, image])
    // Sent: it cannot be taken out as an unsent upload, nor sent again with another question.
    expectError(await env.client.json('DELETE', csv.url), 404, 'not_found')
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'again', attachments: [csv.id] }), 400, 'invalid_body')
  })

  it('takes a question of files alone, titled after the first file', async () => {
    const image = await uploaded(env.client, png(), 'holiday.png')
    env.fake.enqueue({ chunks: ['A picture.'] })
    const before = env.fake.completions.length
    const res = await env.client.json('POST', '/api/chats', { content: '', attachments: [image.id] })
    expect(res.status).toBe(201)
    expect(res.body.title).toBe('holiday.png')
    const request = await env.fake.waitForCompletion(before)
    expect(request.body.messages.at(-1).content).toEqual([{ type: 'image_url', image_url: { url: expect.stringMatching(/^data:image\/png;base64,/) } }])
    expectError(await env.client.json('POST', '/api/chats', { content: '  ' }), 400, 'invalid_body')
  })

  it('holds the count and total size limits, storing nothing for a refused question', async () => {
    const chat = await newChat(env.client)
    const files = await Promise.all([1, 2, 3, 4].map(i => uploaded(env.client, `file ${i}`, `f${i}.txt`)))
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'four', attachments: files.map(f => f.id) }), 413, 'too_many_attachments')
    const big = await Promise.all([1, 2].map(i => uploaded(env.client, String(i).repeat(160_000), `big${i}.txt`)))
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'big', attachments: big.map(f => f.id) }), 413, 'attachments_too_large')
    expectError(await env.client.json('POST', `/api/chats/${chat.id}/messages`, { content: 'twice', attachments: [files[0]!.id, files[0]!.id] }), 400, 'invalid_body')
    const stranger = createClient(env.client.baseUrl)
    const theirs = await stranger.json('POST', '/api/chats', {})
    expectError(await stranger.json('POST', `/api/chats/${theirs.body.id}/messages`, { content: 'steal', attachments: [files[0]!.id] }), 400, 'invalid_body')
    expect((await getChat(env.client, chat.id)).messages).toEqual([])
  })

  it('sends the files again on Retry and Continue', async () => {
    const image = await uploaded(env.client, png(), 'again.png')
    const chat = await newChat(env.client)
    env.fake.enqueue({ status: 503 })
    const posted = await send(env.client, chat.id, 'Look', undefined, [image.id])
    expect((await waitFinal(env.client, chat.id, posted.assistantMessage.id)).status).toBe('error')
    const hasImage = (index: number) => JSON.stringify(env.fake.completions[index]!.body.messages).includes(png().toString('base64'))
    env.fake.enqueue({ chunks: ['Retried.'] })
    const count = env.fake.completions.length
    const retried = await env.client.json('POST', `/api/chats/${chat.id}/messages/${posted.assistantMessage.id}/retry`)
    expect(retried.status).toBe(202)
    await waitFinal(env.client, chat.id, retried.body.assistantMessage.id)
    expect(hasImage(count)).toBe(true)

    const gate = createGate()
    env.fake.enqueue({ chunks: ['Half', ' more'], pauseAfter: 1, until: gate.promise })
    const next = await send(env.client, chat.id, 'And this?')
    const stream = await openStream(env.client, next.streamUrl)
    await stream.waitForText(t => t === 'Half')
    await env.client.json('POST', `/api/chats/${chat.id}/messages/${next.assistantMessage.id}/stop`)
    gate.open()
    await waitFinal(env.client, chat.id, next.assistantMessage.id)
    env.fake.enqueue({ chunks: [' rest'] })
    const before = env.fake.completions.length
    expect((await env.client.json('POST', `/api/chats/${chat.id}/messages/${next.assistantMessage.id}/continue`)).status).toBe(202)
    await waitFinal(env.client, chat.id, next.assistantMessage.id)
    expect(hasImage(before)).toBe(true)
  })

  it('edits keep the files by default, or take the list given: dropped files are deleted', async () => {
    const keep = await uploaded(env.client, 'keep me', 'keep.txt')
    const drop = await uploaded(env.client, 'drop me', 'drop.txt')
    const chat = await newChat(env.client)
    env.fake.enqueue({ chunks: ['one'] })
    const posted = await send(env.client, chat.id, 'Two files', undefined, [keep.id, drop.id])
    await waitFinal(env.client, chat.id, posted.assistantMessage.id)

    env.fake.enqueue({ chunks: ['two'] })
    const same = await env.client.json('POST', `/api/chats/${chat.id}/messages/${posted.userMessage.id}/edit`, { content: 'Two files, reworded' })
    expect(same.status).toBe(202)
    expect(same.body.userMessage.attachments).toEqual([keep, drop])
    await waitFinal(env.client, chat.id, same.body.assistantMessage.id)

    const added = await uploaded(env.client, 'new one', 'new.txt')
    env.fake.enqueue({ chunks: ['three'] })
    const before = env.fake.completions.length
    const edited = await env.client.json('POST', `/api/chats/${chat.id}/messages/${same.body.userMessage.id}/edit`, { content: 'One kept, one new', attachments: [added.id, keep.id] })
    expect(edited.status).toBe(202)
    expect(edited.body.userMessage.attachments).toEqual([added, keep])
    await waitFinal(env.client, chat.id, edited.body.assistantMessage.id)
    expect(env.fake.completions[before]!.body.messages.at(-1).content).toBe('One kept, one new\n\n<file name="new.txt">\nnew one\n</file>\n\n<file name="keep.txt">\nkeep me\n</file>')
    expect((await env.client.fetch(keep.url)).status).toBe(200)
    expectError(await env.client.json('GET', drop.url), 404, 'not_found')
  })

  it('deletes a chat\'s files with it', async () => {
    const file = await uploaded(env.client, png(), 'gone.png')
    const { chat, assistantMessage } = await chatAndSend(env.client, 'short')
    await waitFinal(env.client, chat.id, assistantMessage.id)
    env.fake.enqueue({ chunks: ['ok'] })
    const posted = await send(env.client, chat.id, 'with a file', undefined, [file.id])
    await waitFinal(env.client, chat.id, posted.assistantMessage.id)
    expect((await env.client.fetch(file.url)).status).toBe(200)
    expect((await env.client.fetch(`/api/chats/${chat.id}`, { method: 'DELETE' })).status).toBe(204)
    expectError(await env.client.json('GET', file.url), 404, 'not_found')
  })

  it('tells the person in words when the model cannot look at images', async () => {
    const image = await uploaded(env.client, png(), 'eyes.png')
    const chat = await newChat(env.client)
    env.fake.enqueue({ status: 400, errorMessage: 'Invalid content type. image_url is only supported by certain models.' })
    const posted = await send(env.client, chat.id, 'Describe it', undefined, [image.id])
    const stored = await waitFinal(env.client, chat.id, posted.assistantMessage.id)
    expect(stored.error).toEqual({ code: 'upstream_no_vision', message: expect.stringMatching(/cannot look at images/) })
    // The same refusal without images is the model server's own error.
    env.fake.enqueue({ status: 400, errorMessage: 'Invalid content type. image_url is only supported by certain models.' })
    const plain = await chatAndSend(env.client, 'No image here')
    expect((await waitFinal(env.client, plain.chat.id, plain.assistantMessage.id)).error?.code).toBe('upstream_error')
  })
})
