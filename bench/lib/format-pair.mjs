// Two ways of reading the same answers, measured side by side: bytes on the wire per token and
// the server's CPU per token (bench/formats-ai-sdk.mjs, bench/formats-ws.mjs). One Flume
// production build (limits off), a paced fake upstream; rounds alternate the two formats, each
// round `--streams` answers of `--tokens` tokens at once, paced at `--tokens-per-s` each. CPU is
// the server process's user + system time over the round (/proc), so it includes what both
// formats share (the request, the upstream call, saving the answer).

import http from 'node:http'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { makeAgent, requestJson } from './client.mjs'
import { startPacedUpstream } from './paced-upstream.mjs'
import { cpuSeconds } from './proc.mjs'
import { killTargets, startFlume } from './targets.mjs'
import { MODEL } from './upstream.mjs'

// Prose-like tokens: words with their leading space, punctuation, a line break now and then, a
// quote and a non-ASCII word (every format escapes the same JSON strings).
const WORDS = [' The', ' river', ' runs', ' through', ' the', ' valley', ',', ' and', ' its', ' water', ' is', ' "cold"', ' in', ' spring', '.', ' Über', ' all', '\n\n', ' It', ' flows']

/**
 * Runs the comparison. `formats` maps a key to `{ label, answer(i, round, ctx) }`, where `answer`
 * makes answer `i` and reads it in its format, checks its text against `ctx.expected`, and returns
 * `{ bytes, frames }`. `ctx` has `flume`, `cookie`, `expected`, `tag`, `request(method, path,
 * body?, headers?)` (a Node response) and `readBody(res)` (`{ status, bytes, frames, text }`).
 */
export async function runFormatPair({ script, tag, formats }) {
  const root = resolve(import.meta.dirname, '../..')
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
    console.log(`usage: npx node ${script} [--tokens 1000] [--tokens-per-s 100] [--streams 50] [--rounds 3] [--output .output]`)
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
  const tokens = Array.from({ length: TOKENS }, (_, i) => WORDS[i % WORDS.length])

  process.on('exit', () => killTargets())
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1))

  const upstream = await startPacedUpstream({ model: MODEL, tag, tokens, tokensPerS: Number(args['tokens-per-s']), quick: ['ok'], title: 'bench' })
  const flume = await startFlume({ outputDir, upstreamUrl: upstream.url })
  const agent = makeAgent()
  // One identity for every answer (FLUME_MAX_STREAMS=0 in the bench's server).
  const first = await requestJson(`${flume.url}/api/chats`, { method: 'POST', agent, body: {} })
  const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0]

  /** Reads a response body to its end: bytes and `data:` frames (pings apart). */
  const readBody = res => new Promise((resolveBody, reject) => {
    let bytes = 0
    let text = ''
    res.on('data', (chunk) => {
      bytes += chunk.length
      text += chunk.toString('utf8')
    })
    res.on('end', () => resolveBody({ status: res.statusCode, bytes, frames: text.split('\n\n').filter(f => f.startsWith('data:') || f.startsWith('id:')).length, text }))
    res.on('error', reject)
  })
  const request = (method, path, body, headers = {}) => new Promise((resolveRes, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(`${flume.url}${path}`, {
      method,
      agent,
      headers: { cookie, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }), ...headers },
    }, resolveRes)
    req.on('error', reject)
    req.end(payload)
  })
  const ctx = { flume, cookie, tag, expected: tokens.join(''), request, readBody }

  const keys = Object.keys(formats)
  // Warm-up (JIT, the database's first pages), not counted.
  for (const key of keys) await Promise.all(Array.from({ length: 5 }, (_, i) => formats[key].answer(i, 'warm', ctx)))

  const results = Object.fromEntries(keys.map(key => [key, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const key of round % 2 ? [...keys].reverse() : keys) {
      const before = cpuSeconds(flume.pid).total
      const started = performance.now()
      const bodies = await Promise.all(Array.from({ length: STREAMS }, (_, i) => formats[key].answer(i, round, ctx)))
      const cpu = cpuSeconds(flume.pid).total - before
      const bytes = bodies.reduce((sum, b) => sum + b.bytes, 0)
      const frames = bodies.reduce((sum, b) => sum + b.frames, 0)
      const r = { bytesPerToken: bytes / STREAMS / TOKENS, framesPerAnswer: frames / STREAMS, cpuUsPerToken: cpu * 1e6 / STREAMS / TOKENS, seconds: (performance.now() - started) / 1000 }
      results[key].push(r)
      console.log(`round ${round + 1} ${key.padEnd(4)} ${r.bytesPerToken.toFixed(1)} B/token, ${r.framesPerAnswer.toFixed(0)} frames/answer, ${r.cpuUsPerToken.toFixed(1)} µs CPU/token (${r.seconds.toFixed(1)} s)`)
    }
  }

  const median = (values) => {
    const s = [...values].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  console.log(`\n${STREAMS} answers of ${TOKENS} tokens at once, ${args['tokens-per-s']} tokens/s each; medians of ${ROUNDS} rounds:`)
  console.log('format          bytes/token  frames/answer  server CPU µs/token  CPU ms per 1,000-token answer')
  for (const key of keys) {
    const rs = results[key]
    const cpu = median(rs.map(r => r.cpuUsPerToken))
    console.log(`${formats[key].label.padEnd(14)}  ${median(rs.map(r => r.bytesPerToken)).toFixed(1).padStart(11)}  ${median(rs.map(r => r.framesPerAnswer)).toFixed(0).padStart(13)}  ${cpu.toFixed(1).padStart(19)}  ${(cpu * TOKENS / 1000).toFixed(1).padStart(28)}`)
  }

  agent.destroy()
  await flume.stop()
  await upstream.close()
  process.exit(0)
}

/** The contract's JSON SSE: POST /api/chats with the question, then GET its streamUrl to [DONE]. */
export async function jsonSseAnswer(i, _round, { request, readBody, tag, expected }) {
  const posted = await readBody(await request('POST', '/api/chats', { content: `${tag} ${i}` }))
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
