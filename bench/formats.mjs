#!/usr/bin/env node
// What each stream format costs for the same answer: bytes on the wire per token and the
// server's CPU per token, for the contract's JSON SSE and the other formats of the stream URL
// (docs/text.md, docs/htmx.md). Not a test: run on demand and read the figures.
//
//   fake upstream (this process)  --SSE-->  Flume (child process, limits off)  --format-->  readers (this process)
//
// Per format, per round: C answers of T tokens (default 20 x 1,000) at R tokens/s (200) start
// behind a barrier, with `--readers` readers each (1) in that format; the barrier opens and the server's CPU
// (utime+stime, /proc) is counted from then until every reader has its end and the last answer
// is stored. `none` (no reader at all) is the cost of generating and storing the answers alone,
// so CPU minus `none` is what a format's readers add (more readers per answer make that part
// stand out from the cost of generating). Formats are measured in turn within each
// round, so drifts of a shared machine hit them alike; a line gives the median of the rounds.
//
// Usage: node bench/formats.mjs [--formats none,json,text,htmx] [--streams 20] [--tokens 1000]
//          [--rate 200] [--readers 1] [--rounds 3]
// Needs a production build (FLUME_OUTPUT_DIR, default .output; `npx nuxt build`).
//
// A format is one entry of FORMATS: how to read one answer with it, given its streamUrl.

import { existsSync } from 'node:fs'
import http from 'node:http'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { makeAgent, requestJson } from './lib/client.mjs'
import { cpuSeconds } from './lib/proc.mjs'
import { killTargets, startFlume } from './lib/targets.mjs'
import { startUpstream, tokenText } from './lib/upstream.mjs'

const { values: argv } = parseArgs({
  options: {
    formats: { type: 'string', default: 'none,json,text,htmx' },
    streams: { type: 'string', default: '20' },
    tokens: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '200' },
    readers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
})

/**
 * Reads a whole HTTP body: resolves { status, type, bytes, body }.
 * @param {string} url
 * @param {Record<string, string>} headers
 * @param {http.Agent} agent
 */
function readBody(url, headers, agent) {
  return new Promise((resolveRead, reject) => {
    const req = http.request(url, { agent, headers }, (res) => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const buf = Buffer.concat(chunks)
        resolveRead({ status: res.statusCode, type: res.headers['content-type'] ?? '', bytes: buf.length, body: buf.toString('utf8') })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** How an SSE body's events read: `data:` lines joined, per event. */
function sseData(body) {
  return body.split('\n\n').map(f => f.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(l.startsWith('data: ') ? 6 : 5)).join('\n')).filter(Boolean)
}

/**
 * The formats. `read({ url, cookie, agent, expected })` reads one answer from its streamUrl (url
 * is absolute) and resolves { bytes, ok }; `ok` checks that the whole answer arrived, so a format
 * that loses text cannot look cheap. Add a format here: the rest of the bench needs nothing else.
 */
const FORMATS = {
  /** No reader: the answers are generated and stored, nobody follows them. */
  none: null,
  json: {
    async read({ url, cookie, agent, expected }) {
      const r = await readBody(url, { accept: 'text/event-stream', cookie }, agent)
      const events = sseData(r.body)
      const text = events.filter(d => d.startsWith('{"type":"delta"')).map(d => JSON.parse(d).text).join('')
      return { bytes: r.bytes, ok: r.status === 200 && events.at(-1) === '[DONE]' && text === expected }
    },
  },
  text: {
    async read({ url, cookie, agent, expected }) {
      const r = await readBody(`${url}?format=text`, { accept: 'text/plain', cookie }, agent)
      return { bytes: r.bytes, ok: r.status === 200 && r.body === expected }
    },
  },
  htmx: {
    async read({ url, cookie, agent, expected }) {
      const r = await readBody(`${url}?format=htmx`, { accept: 'text/event-stream', cookie }, agent)
      const events = sseData(r.body)
      // The bench's tokens hold no character that HTML escapes.
      return { bytes: r.bytes, ok: r.status === 200 && r.body.endsWith('event: done\ndata: done\n\n') && events.slice(0, -1).join('') === expected }
    },
  },
}

if (argv.help) {
  console.log('node bench/formats.mjs [--formats none,json,text,htmx] [--streams 20] [--tokens 1000] [--rate 200] [--readers 1] [--rounds 3]')
  process.exit(0)
}
const formats = argv.formats.split(',').map(s => s.trim()).filter(Boolean)
for (const f of formats) {
  if (!(f in FORMATS)) {
    console.error(`unknown format ${f}; known: ${Object.keys(FORMATS).join(', ')}`)
    process.exit(2)
  }
}
const C = Number(argv.streams)
const T = Number(argv.tokens)
const R = Number(argv.rate)
const readersPerAnswer = Number(argv.readers)
const rounds = Number(argv.rounds)
const root = resolve(import.meta.dirname, '..')
const outputDir = resolve(root, process.env.FLUME_OUTPUT_DIR || '.output')
if (!existsSync(join(outputDir, 'server/index.mjs'))) {
  console.error(`no build in ${outputDir}: run npx nuxt build (or set FLUME_OUTPUT_DIR)`)
  process.exit(2)
}
process.on('exit', () => killTargets())
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

const expected = Array.from({ length: T }, (_, i) => tokenText(i)).join('')
const upstream = await startUpstream()
const flume = await startFlume({ outputDir, upstreamUrl: upstream.url })
const agent = makeAgent()
const sleep = ms => new Promise(r => setTimeout(r, ms))

/** One format, one round: { cpu, bytes, failures }. */
async function measure(name, round) {
  const format = FORMATS[name]
  const plans = []
  const answers = []
  for (let i = 0; i < C; i++) {
    const tag = `${name}-${round}-${i}`
    plans.push(upstream.register(tag, { n: T, rate: R }))
    const res = await requestJson(`${flume.url}/api/chats`, { method: 'POST', agent, body: { content: `flume-bench ${tag}` } })
    if (res.status !== 201) throw new Error(`POST /api/chats: ${res.status} ${JSON.stringify(res.body)}`)
    const cookie = String(res.headers['set-cookie']?.[0] ?? '').split(';')[0]
    answers.push({ cookie, chatId: res.body.id, url: `${flume.url}${res.body.streamUrl}` })
  }
  while (plans.some(p => !p.res)) await sleep(10)
  const before = cpuSeconds(flume.pid).total
  upstream.go(plans)
  const reads = format ? answers.flatMap(a => Array.from({ length: readersPerAnswer }, () => format.read({ ...a, agent, expected }))) : []
  const results = await Promise.all(reads)
  // Every answer stored as done (the last save is part of the cost).
  for (const a of answers) {
    for (;;) {
      const chat = await requestJson(`${flume.url}/api/chats/${a.chatId}`, { agent, headers: { cookie: a.cookie } })
      if (chat.body.messages?.[1]?.status === 'done') break
      await sleep(20)
    }
  }
  const cpu = cpuSeconds(flume.pid).total - before
  upstream.forget(plans)
  return { cpu, bytes: results.reduce((s, r) => s + r.bytes, 0), failures: results.filter(r => !r.ok).length }
}

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const runs = Object.fromEntries(formats.map(f => [f, []]))
// One unmeasured round first: the JIT and the database warm up.
for (const f of formats) await measure(f, 'warm')
for (let round = 0; round < rounds; round++) {
  for (const f of formats) runs[f].push(await measure(f, round))
}
const tokens = C * T
console.log(`# ${C} answers x ${T} tokens at ${R} tokens/s, ${readersPerAnswer} reader(s) each, per round; ${rounds} rounds (median)`)
console.log('# per token of an answer: bytes one reader receives; server CPU from the first token to the last answer stored, in µs')
const base = runs.none ? median(runs.none.map(r => r.cpu)) : undefined
for (const f of formats) {
  const cpu = median(runs[f].map(r => r.cpu))
  const bytes = median(runs[f].map(r => r.bytes))
  const failures = runs[f].reduce((s, r) => s + r.failures, 0)
  const perToken = x => (x / tokens * 1e6).toFixed(1)
  const cpus = runs[f].map(r => r.cpu)
  const added = base !== undefined && f !== 'none' ? `, a reader adds ${perToken((cpu - base) / readersPerAnswer)}` : ''
  console.log(`${f.padEnd(6)} ${(bytes / tokens / (f === 'none' ? 1 : readersPerAnswer)).toFixed(1).padStart(6)} bytes/token  ${perToken(cpu).padStart(6)} µs CPU/token (rounds ${perToken(Math.min(...cpus))}-${perToken(Math.max(...cpus))})${added}  failures: ${failures}`)
}
agent.destroy()
await flume.stop()
await upstream.close()
