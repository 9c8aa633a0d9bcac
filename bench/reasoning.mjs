// First visible token of a reasoning model's answer (docs/reasoning.md): how long a person looks
// at an empty answer. A fake upstream thinks for --think-ms (reasoning deltas every --every-ms),
// then answers; the bench starts chats against a production build and times, from the POST, the
// first frame a client shows: a `reasoning` or `delta` frame. Run it against an older build
// (--output) for the "before" figure: a server that reads only `delta.content` shows nothing until
// the answer's first word.
//
//   npm run bench:reasoning                       # this build (.output)
//   node bench/reasoning.mjs --output /tmp/old/.output --runs 10 --mode field|inline
//
// --mode field: `delta.reasoning_content` (DeepSeek, vLLM, llama.cpp); inline: `<think>` in
// `delta.content` (older servers), where an old build shows the raw reasoning as answer text.

import http from 'node:http'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { makeAgent, requestJson } from './lib/client.mjs'
import { median } from './lib/crowd.mjs'
import { killTargets, startFlume } from './lib/targets.mjs'

const { values: args } = parseArgs({
  options: {
    'output': { type: 'string', default: '.output' },
    'runs': { type: 'string', default: '8' },
    'think-ms': { type: 'string', default: '3000' },
    'every-ms': { type: 'string', default: '50' },
    'mode': { type: 'string', default: 'field' },
  },
})
const runs = Number(args.runs)
const thinkMs = Number(args['think-ms'])
const everyMs = Number(args['every-ms'])
const inline = args.mode === 'inline'

/** An upstream that thinks, then answers: reasoning every `everyMs` for `thinkMs`, then 20 words. */
function startThinker() {
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/v1/models')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ object: 'list', data: [{ id: 'thinker', object: 'model', created: 0, owned_by: 'bench' }] }))
    }
    req.resume()
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const send = delta => res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'thinker', choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`)
      const pause = ms => new Promise(r => setTimeout(r, ms))
      send({ role: 'assistant', content: inline ? '<think>' : '' })
      for (let t = 0; t < thinkMs; t += everyMs) {
        await pause(everyMs)
        send(inline ? { content: `step ${t} ` } : { reasoning_content: `step ${t} ` })
      }
      if (inline) send({ content: '</think>\n\n' })
      for (let i = 0; i < 20; i++) send({ content: `word${i} ` })
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'thinker', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`)
      res.end()
    })
  })
  return new Promise(r => server.listen(0, '127.0.0.1', () => r({ url: `http://127.0.0.1:${server.address().port}/v1`, close: () => server.close() })))
}

/** Opens the stream and resolves the ms (from `t0`) of the first reasoning frame, the first delta frame, and what the first delta said. */
function firstFrames(url, cookie, t0) {
  return new Promise((resolveFirst, reject) => {
    const out = { visible: undefined, delta: undefined, firstText: '' }
    const req = http.get(url, { headers: { accept: 'text/event-stream', cookie } }, (res) => {
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          if (!data || data === '[DONE]') continue
          const event = JSON.parse(data)
          const at = performance.now() - t0
          if ((event.type === 'reasoning' || event.type === 'delta') && out.visible === undefined) out.visible = at
          if (event.type === 'delta' && out.delta === undefined) {
            out.delta = at
            out.firstText = event.text.slice(0, 24)
            req.destroy()
            resolveFirst(out)
          }
        }
      })
      res.on('error', () => {})
    })
    req.on('error', e => (out.delta === undefined ? reject(e) : undefined))
  })
}

const upstream = await startThinker()
const outputDir = resolve(args.output)
const flume = await startFlume({ outputDir, upstreamUrl: upstream.url, env: { FLUME_MODEL: 'thinker' } })
const agent = makeAgent()
try {
  const visible = []
  const delta = []
  let firstText = ''
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    const created = await requestJson(`${flume.url}/api/chats`, { method: 'POST', body: { content: `Think about ${i}` }, agent })
    if (created.status !== 201) throw new Error(`POST /api/chats: ${created.status} ${JSON.stringify(created.body)}`)
    const cookie = String(created.headers['set-cookie'] ?? '').split(';')[0]
    const got = await firstFrames(`${flume.url}${created.body.streamUrl}`, cookie, t0)
    visible.push(got.visible)
    delta.push(got.delta)
    firstText = got.firstText
  }
  console.log(`reasoning bench: ${outputDir}, mode ${args.mode}, the model thinks ${thinkMs} ms (a reasoning delta every ${everyMs} ms), ${runs} answers`)
  console.log(`  first visible frame (reasoning or answer): median ${median(visible).toFixed(0)} ms (min ${Math.min(...visible).toFixed(0)}, max ${Math.max(...visible).toFixed(0)})`)
  console.log(`  first answer (delta) frame:                median ${median(delta).toFixed(0)} ms; it began ${JSON.stringify(firstText)}`)
}
finally {
  agent.destroy()
  await flume.stop()
  upstream.close()
  killTargets()
}
