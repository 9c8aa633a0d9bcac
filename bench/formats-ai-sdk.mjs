// The AI SDK's UI message stream (POST /api/chat, docs/ai-sdk.md) against the contract's JSON SSE
// stream (POST /api/chats + GET streamUrl) for the same answers: bytes on the wire per token and
// the server's CPU per token. One Flume production build (FLUME_RATE_LIMITS=off), a paced fake
// upstream (bench/lib/paced-upstream.mjs); rounds alternate the formats, each round `--streams`
// answers of `--tokens` tokens at once, paced at `--tokens-per-s` each. Bytes are the response
// bodies as the client reads them (no HTTP headers, no chunked framing); CPU is the server
// process's user + system time over the round (/proc), so it includes what both formats share
// (the request, the upstream call, saving the answer).
//
//   npx node bench/formats-ai-sdk.mjs                      # 50 streams x 1,000 tokens at 100/s, 3 rounds each
//   npx node bench/formats-ai-sdk.mjs --output .output-e2  # another build (also FLUME_OUTPUT_DIR)

import http from 'node:http'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
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
  console.log('usage: npx node bench/formats-ai-sdk.mjs [--tokens 1000] [--tokens-per-s 100] [--streams 50] [--rounds 3] [--output .output]')
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

// Prose-like tokens: words with their leading space, punctuation, a line break now and then, a
// quote and a non-ASCII word (both formats escape the same JSON strings).
const WORDS = [' The', ' river', ' runs', ' through', ' the', ' valley', ',', ' and', ' its', ' water', ' is', ' "cold"', ' in', ' spring', '.', ' Über', ' all', '\n\n', ' It', ' flows']
const tokens = Array.from({ length: TOKENS }, (_, i) => WORDS[i % WORDS.length])
const TAG = 'flume-bench-formats'

process.on('exit', () => killTargets())
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1))

const upstream = await startPacedUpstream({ model: MODEL, tag: TAG, tokens, tokensPerS: Number(args['tokens-per-s']), quick: ['ok'], title: 'bench' })
const flume = await startFlume({ outputDir, upstreamUrl: upstream.url })
const agent = makeAgent()

// One identity for every answer (FLUME_MAX_STREAMS=0 in the bench's server).
const first = await requestJson(`${flume.url}/api/chats`, { method: 'POST', agent, body: {} })
const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0]

/** Reads a response body to its end: bytes and `data:` frames (pings apart). */
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

const expected = tokens.join('')

/** The contract's stream: post the question, then read its streamUrl. */
async function jsonAnswer(i) {
  const posted = await readBody(await request('POST', '/api/chats', { content: `${TAG} ${i}` }))
  const { streamUrl } = JSON.parse(posted.text)
  const got = await readBody(await request('GET', streamUrl, undefined, { accept: 'text/event-stream' }))
  const text = got.text.split('\n\n').flatMap((f) => {
    const data = /^data: (\{.*\})$/m.exec(f)?.[1]
    const event = data && JSON.parse(data)
    return event?.type === 'delta' ? [event.text] : []
  }).join('')
  if (text !== expected) throw new Error(`json: the text differs (${text.length} vs ${expected.length} characters)`)
  return got
}

/** The AI SDK's: one POST that answers the stream. */
async function uiAnswer(i, round) {
  const got = await readBody(await request('POST', '/api/chat', {
    id: `bench-${round}-${i}`,
    trigger: 'submit-message',
    messages: [{ id: `q${i}`, role: 'user', parts: [{ type: 'text', text: `${TAG} ${i}` }] }],
  }))
  const text = got.text.split('\n\n').flatMap((f) => {
    const data = /^data: (\{.*\})$/m.exec(f)?.[1]
    const event = data && JSON.parse(data)
    return event?.type === 'text-delta' ? [event.delta] : []
  }).join('')
  if (got.status !== 200 || text !== expected) throw new Error(`ui: status ${got.status}, the text differs (${text.length} vs ${expected.length} characters)`)
  return got
}

// Warm-up (JIT, the database's first pages), not counted.
await Promise.all(Array.from({ length: 5 }, (_, i) => jsonAnswer(i)))
await Promise.all(Array.from({ length: 5 }, (_, i) => uiAnswer(i, 'warm')))

const results = { json: [], ui: [] }
for (let round = 0; round < ROUNDS; round++) {
  for (const format of round % 2 ? ['ui', 'json'] : ['json', 'ui']) {
    const before = cpuSeconds(flume.pid).total
    const started = performance.now()
    const bodies = await Promise.all(Array.from({ length: STREAMS }, (_, i) => (format === 'json' ? jsonAnswer(i) : uiAnswer(i, round))))
    const cpu = cpuSeconds(flume.pid).total - before
    const bytes = bodies.reduce((sum, b) => sum + b.bytes, 0)
    const frames = bodies.reduce((sum, b) => sum + b.frames, 0)
    const r = { bytesPerToken: bytes / STREAMS / TOKENS, framesPerAnswer: frames / STREAMS, cpuUsPerToken: cpu * 1e6 / STREAMS / TOKENS, seconds: (performance.now() - started) / 1000 }
    results[format].push(r)
    console.log(`round ${round + 1} ${format.padEnd(4)} ${r.bytesPerToken.toFixed(1)} B/token, ${r.framesPerAnswer.toFixed(0)} frames/answer, ${r.cpuUsPerToken.toFixed(1)} µs CPU/token (${r.seconds.toFixed(1)} s)`)
  }
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
console.log(`\n${STREAMS} answers of ${TOKENS} tokens at once, ${args['tokens-per-s']} tokens/s each; medians of ${ROUNDS} rounds:`)
console.log('format          bytes/token  frames/answer  server CPU µs/token  CPU ms per 1,000-token answer')
for (const [format, name] of [['json', 'JSON SSE'], ['ui', 'UI message']]) {
  const rs = results[format]
  const cpu = median(rs.map(r => r.cpuUsPerToken))
  console.log(`${name.padEnd(14)}  ${median(rs.map(r => r.bytesPerToken)).toFixed(1).padStart(11)}  ${median(rs.map(r => r.framesPerAnswer)).toFixed(0).padStart(13)}  ${cpu.toFixed(1).padStart(19)}  ${(cpu * TOKENS / 1000).toFixed(1).padStart(28)}`)
}

agent.destroy()
await flume.stop()
await upstream.close()
process.exit(0)
