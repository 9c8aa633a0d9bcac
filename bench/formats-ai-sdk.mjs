// The AI SDK's UI message stream (POST /api/chat, docs/ai-sdk.md) against the contract's JSON SSE
// stream (POST /api/chats + GET streamUrl) for the same answers: bytes on the wire per token and
// the server's CPU per token (bench/lib/format-pair.mjs). Bytes are the response bodies as the
// client reads them (no HTTP headers, no chunked framing).
//
//   npx node bench/formats-ai-sdk.mjs                      # 50 streams x 1,000 tokens at 100/s, 3 rounds each
//   npx node bench/formats-ai-sdk.mjs --output .output-e2  # another build (also FLUME_OUTPUT_DIR)

import { jsonSseAnswer, runFormatPair } from './lib/format-pair.mjs'

/** The AI SDK's: one POST that answers the stream. */
async function uiAnswer(i, round, { request, readBody, tag, expected }) {
  const got = await readBody(await request('POST', '/api/chat', {
    id: `bench-${round}-${i}`,
    trigger: 'submit-message',
    messages: [{ id: `q${i}`, role: 'user', parts: [{ type: 'text', text: `${tag} ${i}` }] }],
  }))
  const text = got.text.split('\n\n').flatMap((f) => {
    const data = /^data: (\{.*\})$/m.exec(f)?.[1]
    const event = data && JSON.parse(data)
    return event?.type === 'text-delta' ? [event.delta] : []
  }).join('')
  if (got.status !== 200 || text !== expected) throw new Error(`ui: status ${got.status}, the text differs (${text.length} vs ${expected.length} characters)`)
  return got
}

await runFormatPair({
  script: 'bench/formats-ai-sdk.mjs',
  tag: 'flume-bench-formats',
  formats: { json: { label: 'JSON SSE', answer: jsonSseAnswer }, ui: { label: 'UI message', answer: uiAnswer } },
})
