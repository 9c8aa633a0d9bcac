// A fake OpenAI-compatible upstream for the page benchmarks (page.mjs, render.mjs).

import http from 'node:http'
import { performance } from 'node:perf_hooks'

/**
 * Serves GET /v1/models (one model) and POST /v1/chat/completions. A streamed completion whose
 * last user message contains `tag` sends `tokens`, one SSE event each, at `tokensPerS` in 10 ms
 * ticks on a drift-free schedule; any other streamed completion sends `quick` at once. A
 * non-streamed one (a title) answers `title`. Hooks, all optional: `onStart()` when a tagged
 * answer starts, `onWrite(first, end)` after tokens [first, end) are written, `onEnd()` after the
 * last one.
 */
export async function startPacedUpstream({ model, tag, tokens, tokensPerS, quick, title, onStart, onWrite, onEnd }) {
  const created = Math.floor(Date.now() / 1000)
  const frame = (id, delta, finish = null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/v1/models')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ object: 'list', data: [{ id: model, object: 'model', created, owned_by: 'bench' }] }))
      return
    }
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: 'not found' } }))
      return
    }
    const body = []
    req.on('data', c => body.push(c))
    req.on('end', () => {
      const request = JSON.parse(Buffer.concat(body).toString('utf8'))
      const last = [...(request.messages ?? [])].reverse().find(m => m.role === 'user')?.content ?? ''
      const id = `chatcmpl-${Math.random().toString(36).slice(2)}`
      if (!request.stream) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({
          id, object: 'chat.completion', created, model,
          choices: [{ index: 0, message: { role: 'assistant', content: title }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
        }))
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'connection': 'keep-alive' })
      res.flushHeaders()
      let closed = false
      res.on('close', () => {
        closed = true
      })
      const end = () => {
        res.write(frame(id, {}, 'stop'))
        if (request.stream_options?.include_usage) {
          res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 } })}\n\n`)
        }
        res.end('data: [DONE]\n\n')
      }
      res.write(frame(id, { role: 'assistant', content: '' }))
      if (!String(last).includes(tag)) {
        // Answers at once: the whole short answer in the first writes.
        for (const t of quick) res.write(frame(id, { content: t }))
        end()
        return
      }
      onStart?.()
      const tickMs = 10
      const start = performance.now()
      let sent = 0
      const tick = () => {
        if (closed) return
        const due = Math.min(tokens.length, Math.round(((performance.now() - start) / 1000) * tokensPerS) + 1)
        const first = sent
        let out = ''
        while (sent < due) out += frame(id, { content: tokens[sent++] })
        if (out) {
          res.write(out)
          onWrite?.(first, sent)
        }
        if (sent >= tokens.length) {
          onEnd?.()
          end()
          return
        }
        setTimeout(tick, Math.max(0, start + (Math.floor((performance.now() - start) / tickMs) + 1) * tickMs - performance.now()))
      }
      tick()
    })
  })
  await new Promise(r => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${server.address().port}/v1`,
    close: () => new Promise(r => server.close(r)),
  }
}
