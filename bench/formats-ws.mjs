// The WebSocket (/api/ws, docs/websocket.md) against the contract's JSON SSE stream for the same
// answers: bytes on the wire per token and the server's CPU per token. One Flume production
// build, a paced fake upstream (bench/lib/paced-upstream.mjs); rounds alternate the formats, each
// round `--streams` answers of `--tokens` tokens at once, paced at `--tokens-per-s` each. Each
// answer is posted (POST /api/chats), then read by its own GET streamUrl or its own socket
// (connect, follow, read to done, close). SSE bytes are the response bodies (no HTTP headers, no
// chunked framing); WebSocket bytes are the server's messages with their frame headers (2 bytes
// under 126 bytes, 4 under 64 KiB), not the handshake. CPU is the server process's user + system
// time over the round (/proc), so it includes what both share (the post, the upstream call, saving).
//
//   npx node bench/formats-ws.mjs                      # 50 answers x 1,000 tokens at 100/s, 3 rounds each
//   npx node bench/formats-ws.mjs --output .output-e3  # another build (also FLUME_OUTPUT_DIR)

import http from 'node:http'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { makeAgent, requestJson } from './lib/client.mjs'
import { startPacedUpstream } from './lib/paced-upstream.mjs'
import { cpuSeconds } from './lib/proc.mjs'
import { killTargets, startFlume } from './lib/targets.mjs'
import { MODEL } from './lib/upstream.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    'tokens': { type: 'string', default: '1000' },
    'tokens-per-s': { type: 'string', default: '100' },
    'streams': { type: 'string', default: '50' },
    'rounds': { type: 'string', default: '3' },
    'output': { type: 'string', default: process.env.FLUME_OUTPUT_DIR || '.output' },
    'help': { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log('usage: npx node bench/formats-ws.mjs [--tokens 1000] [--tokens-per-s 100] [--streams 50] [--rounds 3] [--output .output]')
  process.exit(0)
}
const TOKENS = Number(args.tokens)
const STREAMS = Number(args.streams)
const ROUNDS = Number(args.rounds)
const outputDir = resolve(root, args.output)
if (!existsSync(join(outputDir, 'server/index.mjs'))) {
  console.error(`No build in ${outputDir}: run npx nuxt build (or give --output).`)
  process.exit(1)
}

// The same prose-like tokens as bench/formats-ai-sdk.mjs.
const WORDS = [' The', ' river', ' runs', ' through', ' the', ' valley', ',', ' and', ' its', ' water', ' is', ' "cold"', ' in', ' spring', '.', ' Über', ' all', '\n\n', ' It', ' flows']
const tokens = Array.from({ length: TOKENS }, (_, i) => WORDS[i % WORDS.length])
const TAG = 'flume-bench-formats-ws'
const expected = tokens.join('')

process.on('exit', () => killTargets())
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1))

const upstream = await startPacedUpstream({ model: MODEL, tag: TAG, tokens, tokensPerS: Number(args['tokens-per-s']), quick: ['ok'], title: 'bench' })
const flume = await startFlume({ outputDir, upstreamUrl: upstream.url })
const agent = makeAgent()

// One identity for every answer (FLUME_MAX_STREAMS=0 in the bench's server).
const first = await requestJson(`${flume.url}/api/chats`, { method: 'POST', agent, body: {} })
const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0]

function readBody(res) {
  return new Promise((resolveBody, reject) => {
    let bytes = 0
    let text = ''
    res.on('data', (chunk) => {
      bytes += chunk.length
      text += chunk.toString('utf8')
    })
    res.on('end', () => resolveBody({ status: res.statusCode, bytes, frames: text.split('\n\n').filter(f => f.startsWith('data:') || f.startsWith('id:')).length, text }))
    res.on('error', reject)
  })
}

function request(method, path, body, headers = {}) {
  return new Promise((resolveRes, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(`${flume.url}${path}`, {
      method,
      agent,
      headers: { cookie, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }), ...headers },
    }, resolveRes)
    req.on('error', reject)
    req.end(payload)
  })
}

async function post(i) {
  const posted = await readBody(await request('POST', '/api/chats', { content: `${TAG} ${i}` }))
  const chat = JSON.parse(posted.text)
  return { streamUrl: chat.streamUrl, messageId: chat.messages[1].id }
}

async function sseAnswer(i) {
  const { streamUrl } = await post(i)
  const got = await readBody(await request('GET', streamUrl, undefined, { accept: 'text/event-stream' }))
  const text = got.text.split('\n\n').flatMap((f) => {
    const data = /^data: (\{.*\})$/m.exec(f)?.[1]
    const event = data && JSON.parse(data)
    return event?.type === 'delta' ? [event.text] : []
  }).join('')
  if (text !== expected) throw new Error(`sse: the text differs (${text.length} vs ${expected.length} characters)`)
  return got
}

const frameHeader = length => (length < 126 ? 2 : length < 65536 ? 4 : 10)

async function wsAnswer(i) {
  const { messageId } = await post(i)
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

// Warm-up (JIT, the database's first pages), not counted.
await Promise.all(Array.from({ length: 5 }, (_, i) => sseAnswer(i)))
await Promise.all(Array.from({ length: 5 }, (_, i) => wsAnswer(i)))

const results = { sse: [], ws: [] }
for (let round = 0; round < ROUNDS; round++) {
  for (const format of round % 2 ? ['ws', 'sse'] : ['sse', 'ws']) {
    const before = cpuSeconds(flume.pid).total
    const started = performance.now()
    const bodies = await Promise.all(Array.from({ length: STREAMS }, (_, i) => (format === 'sse' ? sseAnswer(i) : wsAnswer(i))))
    const cpu = cpuSeconds(flume.pid).total - before
    const bytes = bodies.reduce((sum, b) => sum + b.bytes, 0)
    const frames = bodies.reduce((sum, b) => sum + b.frames, 0)
    const r = { bytesPerToken: bytes / STREAMS / TOKENS, framesPerAnswer: frames / STREAMS, cpuUsPerToken: cpu * 1e6 / STREAMS / TOKENS, seconds: (performance.now() - started) / 1000 }
    results[format].push(r)
    console.log(`round ${round + 1} ${format.padEnd(3)} ${r.bytesPerToken.toFixed(1)} B/token, ${r.framesPerAnswer.toFixed(0)} frames/answer, ${r.cpuUsPerToken.toFixed(1)} µs CPU/token (${r.seconds.toFixed(1)} s)`)
  }
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
console.log(`\n${STREAMS} answers of ${TOKENS} tokens at once, ${args['tokens-per-s']} tokens/s each; medians of ${ROUNDS} rounds:`)
console.log('format          bytes/token  frames/answer  server CPU µs/token  CPU ms per 1,000-token answer')
for (const [format, name] of [['sse', 'JSON SSE'], ['ws', 'WebSocket']]) {
  const rs = results[format]
  const cpu = median(rs.map(r => r.cpuUsPerToken))
  console.log(`${name.padEnd(14)}  ${median(rs.map(r => r.bytesPerToken)).toFixed(1).padStart(11)}  ${median(rs.map(r => r.framesPerAnswer)).toFixed(0).padStart(13)}  ${cpu.toFixed(1).padStart(19)}  ${(cpu * TOKENS / 1000).toFixed(1).padStart(28)}`)
}

agent.destroy()
await flume.stop()
await upstream.close()
process.exit(0)
