// The WebSocket (/api/ws, docs/websocket.md) against the contract's JSON SSE stream for the same
// answers: bytes on the wire per token and the server's CPU per token (bench/lib/format-pair.mjs).
// Each answer is posted (POST /api/chats), then read by its own GET streamUrl or its own socket
// (connect, follow, read to done, close). SSE bytes are the response bodies (no HTTP headers, no
// chunked framing); WebSocket bytes are the server's messages with their frame headers (2 bytes
// under 126 bytes, 4 under 64 KiB), not the handshake.
//
//   npx node bench/formats-ws.mjs                      # 50 answers x 1,000 tokens at 100/s, 3 rounds each
//   npx node bench/formats-ws.mjs --output .output-e3  # another build (also FLUME_OUTPUT_DIR)

import WebSocket from 'ws'
import { jsonSseAnswer, runFormatPair } from './lib/format-pair.mjs'

const frameHeader = length => (length < 126 ? 2 : length < 65536 ? 4 : 10)

async function wsAnswer(i, _round, { flume, cookie, request, readBody, tag, expected }) {
  const posted = await readBody(await request('POST', '/api/chats', { content: `${tag} ${i}` }))
  const messageId = JSON.parse(posted.text).messages[1].id
  const ws = new WebSocket(`${flume.url.replace(/^http/, 'ws')}/api/ws`, { headers: { cookie }, perMessageDeflate: false })
  let bytes = 0
  let frames = 0
  let text = ''
  await new Promise((resolveWs, reject) => {
    ws.on('open', () => ws.send(JSON.stringify({ type: 'follow', messageId })))
    ws.on('message', (data) => {
      bytes += data.length + frameHeader(data.length)
      frames++
      const frame = JSON.parse(String(data))
      if (frame.type === 'delta') text += frame.text
      if (frame.type === 'done') {
        ws.close()
        resolveWs()
      }
      if (frame.type === 'error' && frame.id === undefined) reject(new Error(`ws: ${frame.code}`))
    })
    ws.on('error', reject)
  })
  if (text !== expected) throw new Error(`ws: the text differs (${text.length} vs ${expected.length} characters)`)
  return { bytes, frames }
}

await runFormatPair({
  script: 'bench/formats-ws.mjs',
  tag: 'flume-bench-formats-ws',
  formats: { sse: { label: 'JSON SSE', answer: jsonSseAnswer }, ws: { label: 'WebSocket', answer: wsAnswer } },
})
