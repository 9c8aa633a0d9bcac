// Baseline for the relay benchmark: the least a Node relay can do, in its own process so
// that its CPU and RSS are measured apart from Flume's and from the bench's.
//
// GET /stream?tag=T opens the upstream completion (same body Flume sends, the tag in the
// user message), and forwards every upstream delta as its own SSE frame
//   id: <offset>\ndata: {"type":"delta","text":"..."}\n\n
// then a usage frame and `data: [DONE]`. No storage, no merging, no identity.
// BARE_CLIENT=fetch (default, the transport the openai SDK uses) or http (node:http).
//
// Env: UPSTREAM_URL (…/v1), PORT (0 = any), BARE_CLIENT. Prints `LISTENING <port>`.
// Exits when its stdin closes (the bench went away).

import http from 'node:http'

const upstream = process.env.UPSTREAM_URL ?? 'http://127.0.0.1:1/v1'
const mode = process.env.BARE_CLIENT === 'http' ? 'http' : 'fetch'
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
const completionsUrl = new URL(`${upstream.replace(/\/$/, '')}/chat/completions`)

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  if (url.pathname === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end('{"ok":true}')
  }
  if (req.method !== 'GET' || url.pathname !== '/stream') {
    res.writeHead(404)
    return res.end()
  }
  const tag = url.searchParams.get('tag') ?? ''
  relay(tag, req, res)
})
server.keepAliveTimeout = 60_000
server.headersTimeout = 0
server.requestTimeout = 0

function relay(tag, req, res) {
  const body = JSON.stringify({
    model: 'bench-model',
    messages: [{ role: 'user', content: `flume-bench ${tag}` }],
    stream: true,
    stream_options: { include_usage: true },
  })
  const ac = new AbortController()
  let ended = false
  res.on('close', () => {
    if (!ended) ac.abort()
  })
  res.writeHead(200, SSE_HEADERS)
  res.flushHeaders()

  let offset = 0
  let buf = ''
  const onText = (s) => {
    buf += s
    let i
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const frame = buf.slice(0, i)
      buf = buf.slice(i + 2)
      for (const line of frame.split('\n')) {
        if (!line.startsWith('data:')) continue
        const data = line.slice(5).trim()
        if (data === '[DONE]') continue
        let chunk
        try {
          chunk = JSON.parse(data)
        }
        catch {
          continue
        }
        const text = chunk.choices?.[0]?.delta?.content
        if (text) {
          offset += text.length
          res.write(`id: ${offset}\ndata: ${JSON.stringify({ type: 'delta', text })}\n\n`)
        }
        if (chunk.usage) {
          res.write(`id: ${offset}\ndata: ${JSON.stringify({ type: 'usage', promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens })}\n\n`)
        }
      }
    }
  }
  const done = (err) => {
    if (ended) return
    ended = true
    if (err && !ac.signal.aborted) {
      res.write(`id: ${offset}\ndata: ${JSON.stringify({ type: 'error', code: 'upstream_unavailable', message: String(err?.message ?? err) })}\n\n`)
    }
    res.end(`id: ${offset}\ndata: [DONE]\n\n`)
  }

  if (mode === 'fetch') {
    (async () => {
      const r = await fetch(completionsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'authorization': 'Bearer bench', 'accept': 'text/event-stream' },
        body,
        signal: ac.signal,
      })
      if (!r.ok || !r.body) throw new Error(`upstream status ${r.status}`)
      const dec = new TextDecoder()
      for await (const chunk of r.body) onText(dec.decode(chunk, { stream: true }))
    })().then(() => done(), done)
  }
  else {
    const up = http.request(completionsUrl, {
      method: 'POST',
      agent,
      signal: ac.signal,
      headers: { 'content-type': 'application/json', 'authorization': 'Bearer bench', 'accept': 'text/event-stream', 'content-length': Buffer.byteLength(body) },
    }, (ur) => {
      if (ur.statusCode !== 200) {
        ur.resume()
        return done(new Error(`upstream status ${ur.statusCode}`))
      }
      ur.setEncoding('utf8')
      ur.on('data', onText)
      ur.on('end', () => done())
      ur.on('error', done)
    })
    up.on('error', done)
    up.end(body)
  }
}

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`)
})
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
