/**
 * The built-in demo model: an OpenAI-compatible server that lives in this process and is handed
 * to the real openai client as its `fetch`, so the demo exercises the same path as a real model.
 */

const encoder = new TextEncoder()

export async function demoFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
  if (url.pathname.endsWith('/models')) {
    return Response.json({ object: 'list', data: [{ id: DEMO_MODEL, object: 'model', created: 0, owned_by: 'flume' }] })
  }
  if (!url.pathname.endsWith('/chat/completions')) {
    return Response.json({ error: { message: 'Not found', type: 'invalid_request_error' } }, { status: 404 })
  }
  const body = JSON.parse(String(init?.body ?? '{}')) as { messages?: { role: string, content: string | DemoPart[] }[] }
  const messages = (body.messages ?? []).map(m => ({ role: m.role, content: textOf(m.content), images: imagesOf(m.content) }))
  const tokens = tokenize(answerTo(messages))
  const thoughts = tokenize(reasoningFor(messages))
  const promptTokens = Math.ceil(JSON.stringify(body.messages ?? []).length / 4)
  const signal = init?.signal ?? undefined
  const delay = useFlumeConfig().demoDelayMs
  const id = `chatcmpl-demo-${Date.now()}`
  const frame = (payload: unknown) => encoder.encode(`data: ${JSON.stringify(payload)}\n\n`)
  const chunk = (delta: Record<string, string>, finish: string | null) => frame({
    id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: DEMO_MODEL,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })

  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        controller.enqueue(chunk({ role: 'assistant', content: '' }, null))
        // Where DeepSeek, vLLM and llama.cpp put reasoning (docs/reasoning.md).
        for (const token of thoughts) {
          await sleep(delay, signal)
          controller.enqueue(chunk({ reasoning_content: token }, null))
        }
        for (const token of tokens) {
          await sleep(delay, signal)
          controller.enqueue(chunk({ content: token }, null))
        }
        controller.enqueue(chunk({}, 'stop'))
        controller.enqueue(frame({
          id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: DEMO_MODEL, choices: [],
          usage: {
            prompt_tokens: promptTokens,
            completion_tokens: thoughts.length + tokens.length,
            total_tokens: promptTokens + thoughts.length + tokens.length,
            ...(thoughts.length ? { completion_tokens_details: { reasoning_tokens: thoughts.length } } : {}),
          },
        }))
        controller.enqueue(encoder.encode('data: [DONE]\n\n'))
        controller.close()
      }
      catch (error) {
        controller.error(error)
      }
    },
  })
  return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The demo's answer to the last question; asked to continue (Continue after a stop or an error),
 * the rest of that answer after the part already written.
 */
function answerTo(messages: DemoTurn[]): string {
  const last = messages.at(-1)
  const continuing = last?.role === 'user' && last.content === CONTINUE_INSTRUCTION
  const turns = continuing ? messages.slice(0, -2) : messages
  const question = turns.findLast(m => m.role === 'user')
  const answer = seen(question) + demoAnswer(question?.content ?? '')
  const written = continuing ? messages.at(-2)?.content ?? '' : ''
  return written && answer.startsWith(written) ? answer.slice(written.length) : answer
}

/** A question that asks the demo to think ("think", "reason", "step by step"): it reasons before it answers. */
const ASKS_TO_THINK = /\b(?:think|thinking|reason|reasoning)\b|step[ -]by[ -]step/i

/**
 * The demo's reasoning (docs/reasoning.md): a short one, only when the question asks for it and
 * not when continuing (its reasoning came before the part already written).
 */
function reasoningFor(messages: DemoTurn[]): string {
  const last = messages.at(-1)
  if (last?.role !== 'user' || last.content === CONTINUE_INSTRUCTION || !ASKS_TO_THINK.test(last.content)) return ''
  const words = last.content.trim().split(/\s+/).length
  return `The person asks me to think before answering, in ${words} word${words === 1 ? '' : 's'}. \
I am the demo model, so I have no real knowledge to draw on. \
What I can do is show how reasoning streams: this text arrives as \`reasoning_content\` deltas, \
the way DeepSeek, vLLM and llama.cpp send it, and Flume keeps it apart from the answer. \
It is stored with the answer, resumes after a reload, and is never sent back to the model. \
Now I will write the usual demo answer.`
}

/** Word-sized pieces with their whitespace, like a real model's tokens. */
function tokenize(text: string): string[] {
  return text.match(/\s*\S{1,12}|\s+/g) ?? []
}

type DemoPart = { type: 'text', text: string } | { type: 'image_url', image_url: { url: string } }
interface DemoTurn { role: string, content: string, images: number }

function textOf(content: string | DemoPart[]): string {
  return typeof content === 'string' ? content : content.flatMap(part => (part.type === 'text' ? [part.text] : [])).join('\n')
}

function imagesOf(content: string | DemoPart[]): number {
  return typeof content === 'string' ? 0 : content.filter(part => part.type === 'image_url').length
}

/** What the demo was shown besides words: it cannot look, but says what came (docs/attachments.md). */
function seen(question: DemoTurn | undefined): string {
  if (!question) return ''
  const files = [...question.content.matchAll(/^<file name="([^"]*)">$/gm)].map(match => match[1])
  const parts = [
    ...(question.images ? [`${question.images} image${question.images === 1 ? '' : 's'}`] : []),
    ...(files.length ? [`${files.length} text file${files.length === 1 ? '' : 's'} (${files.map(name => `\`${name!.replace(/`/g, '\'')}\``).join(', ')})`] : []),
  ]
  return parts.length ? `You attached ${parts.join(' and ')}. A real model would read ${question.images + files.length === 1 ? 'it' : 'them'}; I only see that ${question.images + files.length === 1 ? 'it is' : 'they are'} here.\n\n` : ''
}

function demoAnswer(question: string): string {
  // Only the question's own words, not the files appended after them.
  const asked = question.replace(/\n*<file name="[^"]*">\n[\s\S]*?<\/file>/g, '').trim().replace(/\s+/g, ' ')
  const quote = asked.length > 120 ? `${asked.slice(0, 119)}…` : asked
  return `You asked: *${quote.replace(/[*_`[\]<>]/g, '')}*

I'm **Flume's demo model**. I can't really answer yet, but everything you see is the real path: \
your message was stored, a run started on the server, and this text reaches you token by token \
over Server-Sent Events.

### Connect a real model

1. Copy \`.env.example\` to \`.env\`.
2. Set **one** of these, then restart \`npm run dev\`:
   - \`OPENAI_API_KEY\` for OpenAI,
   - \`OPENAI_BASE_URL\` for any OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio, OpenRouter).
3. Optionally pick the default model with \`FLUME_MODEL\`.

\`\`\`bash
# OpenAI
OPENAI_API_KEY=sk-...
FLUME_MODEL=gpt-4o-mini

# or a local Ollama
OPENAI_BASE_URL=http://127.0.0.1:11434/v1
FLUME_MODEL=llama3.2
\`\`\`

### Things to try meanwhile

- **Reload the page** while I'm writing: the answer carries on where it was.
- Press **Stop**: generation ends on the server, and the text so far is kept. **Continue** goes on from there.
- Open this chat in a **second tab**: both follow the same answer.
- Ask me to **think** (\`Think step by step: …\`): I reason first, and you watch the thinking stream.

Happy chatting!`
}
