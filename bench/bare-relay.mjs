// Baseline for the relay benchmark: the least a Node relay can do, in its own process so
// that its CPU and RSS are measured apart from Flume's and from the bench's.
//
// GET /stream?tag=T opens the upstream completion (same body Flume sends, the tag in the
// user message), and forwards every upstream delta as its own SSE frame
//   id: <offset>\ndata: {"type":"delta","text":"..."}\n\n
// then a usage frame and `data: [DONE]`. No storage, no merging, no identity.
// BARE_CLIENT=fetch (default, the transport the openai SDK uses) or http (node:http).
//
// The start path of a new answer, shaped like Flume's (bench/burst.mjs, scenarios C and D), with
// the least work each step needs: an unsigned random session cookie on first contact, JSON
// bodies parsed, chats and answers kept in memory (no storage), the upstream request opened
// when the question is posted and its frames buffered until a reader comes:
//   POST /chats {content, title?}        201 {id, title, messages, streamUrl} (one request)
//   POST /chats {title?}                 201 {id, title}
//   POST /chats/:id/messages {content}   202 {userMessage, assistantMessage, streamUrl}
//   GET  <streamUrl>                     SSE: the frames so far, then live ones, then [DONE]
// Closing the stream does not stop the answer (as in Flume); a finished answer is forgotten
// 30 s after its end.
//
// Env: UPSTREAM_URL (…/v1), PORT (0 = any), BARE_CLIENT. Prints `LISTENING <port>`.
// Exits when its stdin closes (the bench went away).

import http from 'node:http'
import { randomBytes } from 'node:crypto'

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
  if (url.pathname.startsWith('/chats')) return startPath(req, res, url.pathname)
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

const upstreamBody = content => JSON.stringify({
  model: 'bench-model',
  messages: [{ role: 'user', content }],
  stream: true,
  stream_options: { include_usage: true },
})

function relay(tag, req, res) {
  const ac = new AbortController()
  res.on('close', () => {
    if (!res.writableEnded) ac.abort()
  })
  res.writeHead(200, SSE_HEADERS)
  res.flushHeaders()
  openUpstream(upstreamBody(`flume-bench ${tag}`), res, ac)
}

/** Opens the upstream completion and writes its SSE frames to `sink` (write, end: a response or an answer's buffer). */
function openUpstream(body, sink, ac) {
  let ended = false
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
          sink.write(`id: ${offset}\ndata: ${JSON.stringify({ type: 'delta', text })}\n\n`)
        }
        if (chunk.usage) {
          sink.write(`id: ${offset}\ndata: ${JSON.stringify({ type: 'usage', promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens })}\n\n`)
        }
      }
    }
  }
  const done = (err) => {
    if (ended) return
    ended = true
    if (err && !ac.signal.aborted) {
      sink.write(`id: ${offset}\ndata: ${JSON.stringify({ type: 'error', code: 'upstream_unavailable', message: String(err?.message ?? err) })}\n\n`)
    }
    sink.end(`id: ${offset}\ndata: [DONE]\n\n`)
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

// ---------------------------------------------------------------- start path (scenarios C, D)
const COOKIE = 'bare_session'
const ANSWER_TTL_MS = 30_000
/** chat id -> owner */
const chats = new Map()
/** answer id -> { owner, chatId, frames: string[], done, readers: Set<ServerResponse> } */
const answers = new Map()
const newId = () => randomBytes(16).toString('base64url')

function ownerOf(req, res) {
  const m = /(?:^|;\s*)bare_session=([\w-]+)/.exec(req.headers.cookie ?? '')
  if (m) return m[1]
  const id = newId()
  res.setHeader('set-cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000`)
  return id
}

function sendJson(res, status, value) {
  const s = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(s) })
  res.end(s)
}

function readJson(req) {
  return new Promise((resolve) => {
    let s = ''
    req.setEncoding('utf8')
    req.on('data', (d) => {
      s += d
    })
    req.on('end', () => {
      try {
        resolve(s ? JSON.parse(s) : {})
      }
      catch {
        resolve(undefined)
      }
    })
    req.on('error', () => resolve(undefined))
  })
}

function startPath(req, res, path) {
  const parts = path.split('/').filter(Boolean) // chats, :id, messages, :aid, stream
  if (req.method === 'GET' && parts.length === 5 && parts[2] === 'messages' && parts[4] === 'stream') {
    return follow(req, res, parts[1], parts[3])
  }
  if (req.method !== 'POST' || !(parts.length === 1 || (parts.length === 3 && parts[2] === 'messages'))) {
    res.writeHead(404)
    return res.end()
  }
  const owner = ownerOf(req, res)
  readJson(req).then((body) => {
    if (!body || typeof body !== 'object') return sendJson(res, 400, { status: 400, message: 'invalid body', data: { code: 'invalid_body' } })
    const now = new Date().toISOString()
    if (parts.length === 1) {
      const chat = { id: newId(), title: typeof body.title === 'string' ? body.title : 'New chat', createdAt: now, updatedAt: now }
      chats.set(chat.id, owner)
      if (typeof body.content !== 'string') return sendJson(res, 201, chat)
      const exchange = startAnswer(owner, chat.id, body.content, now)
      return sendJson(res, 201, { ...chat, messages: [exchange.userMessage, exchange.assistantMessage], streamUrl: exchange.streamUrl })
    }
    const chatId = parts[1]
    if (chats.get(chatId) !== owner) return sendJson(res, 404, { status: 404, message: 'not found', data: { code: 'not_found' } })
    if (typeof body.content !== 'string') return sendJson(res, 400, { status: 400, message: 'invalid body', data: { code: 'invalid_body' } })
    sendJson(res, 202, startAnswer(owner, chatId, body.content, now))
  })
}

/** Opens the upstream request now; frames are kept for readers that come later. */
function startAnswer(owner, chatId, content, now) {
  const userId = newId()
  const id = newId()
  const answer = { owner, chatId, frames: [], done: false, readers: new Set() }
  answers.set(id, answer)
  const sink = {
    write(s) {
      answer.frames.push(s)
      for (const r of answer.readers) r.write(s)
    },
    end(s) {
      answer.frames.push(s)
      answer.done = true
      for (const r of answer.readers) r.end(s)
      answer.readers.clear()
      setTimeout(() => answers.delete(id), ANSWER_TTL_MS).unref()
    },
  }
  openUpstream(upstreamBody(content), sink, new AbortController())
  return {
    userMessage: { id: userId, chatId, role: 'user', content, status: 'done', createdAt: now },
    assistantMessage: { id, chatId, role: 'assistant', content: '', status: 'pending', createdAt: now },
    streamUrl: `/chats/${chatId}/messages/${id}/stream`,
  }
}

function follow(req, res, chatId, id) {
  const answer = answers.get(id)
  if (!answer || answer.chatId !== chatId || answer.owner !== ownerOf(req, res)) {
    res.writeHead(404)
    return res.end()
  }
  res.writeHead(200, SSE_HEADERS)
  const sofar = answer.frames.join('')
  if (answer.done) return res.end(sofar)
  if (sofar) res.write(sofar)
  else res.flushHeaders()
  answer.readers.add(res)
  res.on('close', () => answer.readers.delete(res))
}

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`)
})
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
