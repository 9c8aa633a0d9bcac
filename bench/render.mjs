// Rendering cost along a long streamed answer, in headless Chromium (issue 3, part 4; issue 9, item 5).
//
//   FLUME_OUTPUT_DIR=.output npm run bench:render        # uses a production build; builds nothing
//   npm run bench:render -- --shape long-list --detail    # one shape, and where the time went
//
// A fake OpenAI upstream in this process streams a 20,000-token markdown answer into the chat page
// of the built server, one SSE event per token at a steady rate. Answers come in several shapes
// (--shape): `mixed` (headings, paragraphs with inline marks, lists, quotes, tables, code in
// several languages), `short-paragraphs-with-code` (long runs of one- or two-sentence paragraphs
// with short code blocks between them), `long-list` (one list of thousands of items), `table-heavy`
// and `code-heavy`; by default every shape runs, one line each. While it streams, Chromium
// records a trace (category `toplevel`): every task the page's main thread runs, with its start and
// duration. The upstream notes when it wrote each token, on the same monotonic clock, so the main
// thread's busy time can be split by the part of the answer that was arriving.
//
// Reported per shape: busy ms per 1,000 characters of answer over each fifth of it, and the last
// fifth against the first (target: at most 1.3x, i.e. the cost of a character does not grow with
// the text before it). See bench/README.md for what is and is not counted.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { launchChromium, newPage, startFlume, typeAndEnter, waitAnswerDone, waitHydrated } from './lib/browser.mjs'
import { startPacedUpstream } from './lib/paced-upstream.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    'tokens': { type: 'string', default: '20000' },
    'tokens-per-s': { type: 'string', default: '500' },
    'runs': { type: 'string', default: '1' },
    'shape': { type: 'string', default: 'all' },
    'detail': { type: 'boolean', default: false },
    'output': { type: 'string', default: process.env.FLUME_OUTPUT_DIR || '.output' },
    'css': { type: 'string', default: '' },
    'trace': { type: 'string', default: '' },
    'help': { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log('usage: npm run bench:render -- [--shape all] [--tokens 20000] [--tokens-per-s 500] [--runs 1] [--detail] [--css ...] [--trace FILE] [--output .output]\n'
    + '--shape: mixed, short-paragraphs-with-code, long-list, table-heavy, code-heavy, or all (the default: one line per shape).\n'
    + '--detail: also trace devtools.timeline and print where the main thread spent its time.\n'
    + '--css: extra CSS added to every page (to try a rendering change without a build).\n'
    + '--trace FILE: also write the trace of each run (JSON, for chrome://tracing or Perfetto; FILE-<shape>-<run>.json).\n'
    + 'Uses the build in .output (or FLUME_OUTPUT_DIR); Chromium from /usr/bin/chromium (or FLUME_CHROMIUM).')
  process.exit(0)
}
const TOKENS = Math.max(2000, Number(args.tokens) || 20000)
const TOKENS_PER_S = Math.max(1, Number(args['tokens-per-s']) || 500)
const RUNS = Math.max(1, Number(args.runs) || 1)
const PARTS = 5
const TARGET_RATIO = 1.3
const MODEL = 'bench-model'
const TAG = 'bench-render-answer'
const FINAL_WORDS = 'End of the rendering benchmark.'

const outputDir = resolve(root, args.output)
const serverEntry = join(outputDir, 'server/index.mjs')
if (!existsSync(serverEntry)) {
  console.error(`No build at ${serverEntry}: run \`npm run build\` first (or set FLUME_OUTPUT_DIR).`)
  process.exit(1)
}

/** Microseconds of CLOCK_MONOTONIC; Chromium's trace clock on Linux is the same one (checked below). */
const monoUs = () => Number(process.hrtime.bigint() / 1000n)

// ---------------------------------------------------------------------------------------------
// The answer

/** Tokens about as a model cuts them: words with their leading space, long words in pieces. */
function tokenize(text) {
  return text.match(/\s*\S{1,6}|\s+/g) ?? []
}

const SNIPPETS = [
  ['ts', 'interface Range {\n  start: number\n  end: number\n}\n\nexport function overlap(a: Range, b: Range): number {\n  return Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start))\n}'],
  ['python', 'from collections import Counter\n\ndef top_words(text: str, n: int = 5):\n    counts = Counter(w.lower() for w in text.split())\n    return counts.most_common(n)'],
  ['bash', 'set -euo pipefail\nfor f in ./logs/*.log; do\n  grep -c "ERROR" "$f" || true\ndone | sort -n | tail -3'],
  ['json', '{\n  "name": "stream",\n  "tokens": 20000,\n  "rate": { "perSecond": 500, "burst": false },\n  "tags": ["bench", "render"]\n}'],
  ['rust', 'fn mean(xs: &[f64]) -> Option<f64> {\n    if xs.is_empty() {\n        return None;\n    }\n    Some(xs.iter().sum::<f64>() / xs.len() as f64)\n}'],
  ['go', 'func retry(n int, f func() error) (err error) {\n\tfor i := 0; i < n; i++ {\n\t\tif err = f(); err == nil {\n\t\t\treturn nil\n\t\t}\n\t}\n\treturn err\n}'],
  ['css', '.card {\n  display: grid;\n  gap: 0.5rem;\n  padding: 1rem;\n  border: 1px solid var(--border);\n}'],
  ['sql', 'SELECT chat_id, count(*) AS n\nFROM messages\nWHERE role = \'assistant\'\nGROUP BY chat_id\nORDER BY n DESC\nLIMIT 10;'],
]

/** A deterministic source of words, sentences and blocks (one per answer, same seed each time). */
function writer() {
  const words = ('stream token answer model server browser render paragraph markdown latency frame '
    + 'update request response reader writer buffer chunk event source network client cache layout '
    + 'style script thread budget measure result figure target simple steady quick careful linear '
    + 'block table list quote heading code grammar highlight theme scroll focus').split(' ')
  let seed = 11
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  const int = (min, max) => min + Math.floor(rnd() * (max - min + 1))
  const pick = xs => xs[Math.floor(rnd() * xs.length)]
  const sentence = (min = 7, max = 18) => {
    const n = int(min, max)
    const parts = Array.from({ length: n }, (_, i) => {
      const w = pick(words)
      const r = rnd()
      if (i > 0 && r < 0.04) return `**${w}**`
      if (i > 0 && r < 0.08) return `\`${w}()\``
      if (i > 0 && r < 0.1) return `*${w}*`
      if (i > 0 && r < 0.11) return `[${w}](https://example.com/${w})`
      return w
    })
    const s = parts.join(' ')
    return s[0].toUpperCase() + s.slice(1) + '.'
  }
  const paragraph = () => Array.from({ length: int(2, 5) }, () => sentence()).join(' ')
  const code = (lines = 0) => {
    const [lang, body] = pick(SNIPPETS)
    let text = body
    // Longer blocks: the snippet again with its names varied, as real code repeats its shapes.
    while (text.split('\n').length < lines) text += `\n\n${body.replace(/\b(a|b|xs|n|f|err|counts|text)\b/g, m => `${m}${int(1, 9)}`)}`
    return `\`\`\`${lang}\n${text}\n\`\`\``
  }
  const table = rows => ['| Name | Value | Note | Status |', '| --- | ---: | --- | :---: |',
    ...Array.from({ length: rows }, (_, i) => `| \`${pick(words)}\` | ${i * 17 + 3} | ${pick(words)} ${pick(words)} *${pick(words)}* | ${pick(['ok', 'slow', '**fast**'])} |`)].join('\n')
  return { words, rnd, int, pick, sentence, paragraph, code, table }
}

/**
 * Markdown of about `tokens` tokens, ending with FINAL_WORDS: `next(w, i)` gives the i-th piece,
 * pieces are joined by `sep` (a blank line: blocks; a newline: items of one list).
 */
function compose(tokens, next, { head = [], sep = '\n\n' } = {}) {
  const w = writer()
  const pieces = [...head]
  let count = tokenize(pieces.join('\n\n')).length
  const budget = tokens - tokenize(FINAL_WORDS).length - 2
  for (let i = 0; count < budget; i++) {
    const piece = next(w, i)
    pieces.push(piece)
    count += tokenize(`${piece}${sep}`).length
  }
  return `${pieces.slice(0, head.length).join('\n\n')}${head.length ? '\n\n' : ''}${pieces.slice(head.length).join(sep)}\n\n${FINAL_WORDS}`
}

/** The answers to stream, by shape: each about `tokens` tokens of deterministic markdown. */
const SHAPES = {
  // Headings, paragraphs, bullet, numbered and nested lists, quotes, tables, code in eight languages.
  'mixed': tokens => compose(tokens, (w, i) => {
    const kinds = [
      () => w.paragraph(),
      () => Array.from({ length: w.int(3, 5) }, () => `- ${w.sentence()}`).join('\n'),
      () => Array.from({ length: w.int(3, 5) }, (_, k) => `${k + 1}. ${w.sentence()}`).join('\n'),
      () => `- ${w.sentence()}\n  - ${w.sentence()}\n  - ${w.sentence()}\n- ${w.sentence()}`,
      () => `> ${w.sentence()} ${w.sentence()}`,
      () => w.table(w.int(3, 6)),
      () => w.code(),
    ]
    // A section every sixth block; each starts with a code block or a table, so the start is not just prose.
    const step = i % 6
    if (step === 0) return `## Section ${i / 6 + 1}: ${w.pick(w.words)} and ${w.pick(w.words)}`
    if (step === 1) return w.paragraph()
    if (step === 2) return kinds[Math.floor(i / 6) % 2 ? 5 : 6]()
    return w.pick(kinds)()
  }),
  // Long runs of short paragraphs (a sentence or two) with a short code block every few.
  'short-paragraphs-with-code': tokens => compose(tokens, (w, i) =>
    (i % 5 === 4 ? w.code() : Array.from({ length: w.int(1, 2) }, () => w.sentence(5, 12)).join(' '))),
  // One list of thousands of items, some with nested items: a single block that keeps growing.
  'long-list': tokens => compose(tokens, (w, i) =>
    (i % 7 === 6 ? `- ${w.sentence(4, 10)}\n  - ${w.sentence(4, 8)}\n  - ${w.sentence(4, 8)}` : `- ${w.sentence(5, 14)}`),
  { head: ['## A long list', 'Everything, item by item:'], sep: '\n' }),
  // Tables of 8 to 40 rows under short headings.
  'table-heavy': tokens => compose(tokens, (w, i) =>
    (i % 3 === 0 ? `### Table ${i / 3 + 1}` : i % 3 === 1 ? w.sentence() : w.table(w.int(8, 40)))),
  // Code blocks of 20 to 60 lines, a sentence between them.
  'code-heavy': tokens => compose(tokens, (w, i) => (i % 2 ? w.code(w.int(20, 60)) : w.sentence())),
}

// ---------------------------------------------------------------------------------------------
// Fake upstream: streams the answer when the last user message has TAG (one chunk per token, a
// drift-free schedule in 10 ms ticks); a short answer otherwise; titles get a short JSON answer.

async function startUpstream(answer) {
  const tokens = tokenize(answer)
  const run = { sentAt: new Float64Array(tokens.length), done: false }
  const upstream = await startPacedUpstream({
    model: MODEL,
    tag: TAG,
    tokens,
    tokensPerS: TOKENS_PER_S,
    quick: ['Ready', ' when', ' you', ' are.'],
    title: 'Render bench',
    onStart() {
      run.sentAt.fill(0)
      run.done = false
    },
    onWrite(first, end) {
      const now = monoUs()
      for (let i = first; i < end; i++) run.sentAt[i] = now
    },
    onEnd() {
      run.done = true
    },
  })
  return { ...upstream, tokens: tokens.length, tokenList: tokens, run }
}

// ---------------------------------------------------------------------------------------------
// Trace analysis

/** Merged [start, end] intervals (µs) of the top-level tasks of the busiest renderer main thread. */
function mainThreadTasks(events) {
  const mains = events.filter(e => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
  let best = { busy: -1, tasks: [], key: '' }
  for (const m of mains) {
    const tasks = events
      .filter(e => e.pid === m.pid && e.tid === m.tid && e.ph === 'X' && e.dur > 0
        && (e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask'))
      .map(e => [e.ts, e.ts + e.dur])
      .sort((a, b) => a[0] - b[0])
    const merged = []
    for (const t of tasks) {
      const last = merged.at(-1)
      if (last && t[0] <= last[1]) last[1] = Math.max(last[1], t[1])
      else merged.push([...t])
    }
    const busy = merged.reduce((s, [a, b]) => s + b - a, 0)
    if (busy > best.busy) best = { busy, tasks: merged, key: `${m.pid}:${m.tid}` }
  }
  return best
}

/** Busy µs of `tasks` inside [from, to) (a task crossing an edge counts for its part inside). */
function busyIn(tasks, from, to) {
  let sum = 0
  for (const [a, b] of tasks) {
    if (b <= from) continue
    if (a >= to) break
    sum += Math.min(b, to) - Math.max(a, from)
  }
  return sum
}

/** Main-thread time by event name (the page's main thread, inside the window), for --detail. */
function printDetail(events, key, from, to, label) {
  const [pid, tid] = key.split(':').map(Number)
  const byName = new Map()
  for (const e of events) {
    if (e.pid !== pid || e.tid !== tid || e.ph !== 'X' || !e.dur || e.ts < from || e.ts >= to) continue
    byName.set(e.name, (byName.get(e.name) ?? 0) + e.dur / 1000)
  }
  console.log(`  main thread by event (inclusive, ms), ${label}:`)
  for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 18)) {
    console.log(`    ${name.padEnd(46)}${ms.toFixed(1).padStart(9)}`)
  }
}

// ---------------------------------------------------------------------------------------------

async function measure(browser, flume, upstream, shape, run) {
  const { context, page } = await newPage(browser, flume.url)
  try {
    const cdp = await context.newCDPSession(page)
    if (args.css) {
      await page.addInitScript((css) => {
        document.addEventListener('DOMContentLoaded', () => {
          const style = document.createElement('style')
          style.textContent = css
          document.head.append(style)
        })
      }, args.css)
    }
    // A chat already open (a first, short answer done), so only the long answer is traced.
    await page.goto('/')
    await waitHydrated(page)
    await typeAndEnter(page, 'Hi')
    await page.waitForURL(/\/chat\//)
    await waitAnswerDone(page)

    // Clock check: Chromium's TimeTicks (Performance.getMetrics in timeTicks domain, and the
    // trace's ts) against this process's CLOCK_MONOTONIC.
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' })
    const before = monoUs()
    const { metrics } = await cdp.send('Performance.getMetrics')
    const after = monoUs()
    const ticks = metrics.find(m => m.name === 'Timestamp').value * 1e6
    const clockOffset = ticks - (before + after) / 2 // add to a monoUs() time to get trace time
    const clockError = (after - before) / 2

    const events = []
    cdp.on('Tracing.dataCollected', e => events.push(...e.value))
    const categories = args.detail ? 'toplevel,devtools.timeline,blink.user_timing' : 'toplevel'
    await cdp.send('Tracing.start', { categories, transferMode: 'ReportEvents' })
    const answersBefore = await page.locator('article[data-role="assistant"]').count()
    await typeAndEnter(page, `Write the long answer (${TAG})`)
    await page.waitForFunction(n => document.querySelectorAll('article[data-role="assistant"]').length > n, answersBefore, { timeout: 15_000, polling: 50 })
    await waitAnswerDone(page, 30_000 + (2000 * TOKENS) / TOKENS_PER_S)
    const done = new Promise(r => cdp.once('Tracing.tracingComplete', r))
    await cdp.send('Tracing.end')
    await done

    const shown = await page.evaluate(() => {
      const all = document.querySelectorAll('article[data-role="assistant"]')
      const el = all[all.length - 1]
      return {
        status: el.getAttribute('data-status'),
        text: el.querySelector('.markdown')?.textContent ?? '',
        tables: el.querySelectorAll('table').length,
        code: el.querySelectorAll('pre code').length,
        highlighted: el.querySelectorAll('pre.shiki').length,
        blocks: el.querySelectorAll('.markdown-block').length,
      }
    })
    if (shown.status !== 'done' || !shown.text.includes(FINAL_WORDS)) throw new Error(`the answer did not finish on screen (status ${shown.status})`)

    if (args.trace) writeFileSync(`${args.trace.replace(/\.json$/, '')}-${shape}-${run}.json`, JSON.stringify({ traceEvents: events }))
    const { tasks, key } = mainThreadTasks(events)
    const n = upstream.tokens
    // When token i was written (for i = n: a token period after the last one).
    const at = i => (i < n ? upstream.run.sentAt[i] : upstream.run.sentAt[n - 1] + 1e6 / TOKENS_PER_S) + clockOffset
    // Fifths by characters: part k holds the tokens that start in its fifth of the answer's text,
    // and its busy time is the main thread's between the writes of its first and of the next part's first token.
    const starts = []
    let chars = 0
    for (const t of upstream.tokenList) {
      starts.push(chars)
      chars += t.length
    }
    starts.push(chars)
    const bounds = [0]
    for (let k = 1; k < PARTS; k++) bounds.push(starts.findIndex(c => c >= (k * chars) / PARTS))
    bounds.push(n)
    const parts = []
    for (let k = 0; k < PARTS; k++) {
      const [a, b] = [bounds[k], bounds[k + 1]]
      const ms = busyIn(tasks, at(a), at(b)) / 1000
      parts.push({ tokens: b - a, chars: starts[b] - starts[a], ms, wallMs: (at(b) - at(a)) / 1000, perK: (1000 * ms) / (starts[b] - starts[a]) })
    }
    const first = parts[0].perK
    const last = parts.at(-1).perK
    const busyShare = parts.reduce((s, p) => s + p.ms, 0) / parts.reduce((s, p) => s + p.wallMs, 0)
    if (args.detail) {
      printDetail(events, key, at(bounds[0]), at(bounds[1]), 'first fifth')
      printDetail(events, key, at(bounds[PARTS - 1]), at(n), 'last fifth')
    }
    return { clockErrorUs: clockError, parts, first, last, ratio: last / first, ratioSteady: last / parts[1].perK, busyShare, shown }
  }
  finally {
    await context.close()
  }
}

async function measureShape(browser, shape) {
  const answer = SHAPES[shape](TOKENS)
  const upstream = await startUpstream(answer)
  const flume = await startFlume(serverEntry, upstream.url, MODEL)
  const runs = []
  try {
    for (let i = 0; i < RUNS; i++) {
      const r = await measure(browser, flume, upstream, shape, i + 1)
      runs.push(r)
      console.log(`${shape} run ${i + 1}: ${answer.length} characters, ${upstream.tokens} tokens; ${r.shown.blocks} blocks, ${r.shown.tables} tables, ${r.shown.code} code blocks (${r.shown.highlighted} highlighted); clock check ±${r.clockErrorUs.toFixed(0)} µs`)
      console.log(`  busy ms per 1,000 characters, each fifth: ${r.parts.map(p => p.perK.toFixed(1)).join('  ')}   (busy share ${(100 * r.busyShare).toFixed(0)}%; last / second fifth ${r.ratioSteady.toFixed(2)})`)
    }
    return { shape, chars: answer.length, tokens: upstream.tokens, runs }
  }
  catch (err) {
    console.error('Server logs (tail):\n', flume.logs().slice(-3000))
    throw err
  }
  finally {
    await flume.stop()
    await upstream.close()
  }
}

async function main() {
  const shapes = args.shape === 'all' ? Object.keys(SHAPES) : [args.shape]
  const unknown = shapes.filter(s => !SHAPES[s])
  if (unknown.length) {
    console.error(`No shape ${unknown.join(', ')}: one of ${Object.keys(SHAPES).join(', ')}, or all.`)
    process.exit(1)
  }
  const browser = await launchChromium()
  console.log(`Flume build: ${outputDir}; Chromium ${browser.version()}`)
  console.log(`Answers of ${TOKENS} tokens at ${TOKENS_PER_S} tokens/s, one SSE event each; ${RUNS} run(s) per shape; busy = the page's main thread\n`)
  const results = []
  try {
    for (const shape of shapes) results.push(await measureShape(browser, shape))
  }
  finally {
    await browser.close()
  }
  const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`\nBusy ms per 1,000 characters, first fifth -> last fifth of the answer (median of ${RUNS} run(s)); target last / first <= ${TARGET_RATIO}:`)
  let over = 0
  for (const { shape, chars, runs } of results) {
    const ratio = median(runs.map(r => r.ratio))
    if (!(ratio <= TARGET_RATIO)) over++
    console.log(`${ratio <= TARGET_RATIO ? 'PASS' : 'FAIL'}  ${shape.padEnd(27)} ${String(chars).padStart(6)} chars  ${median(runs.map(r => r.first)).toFixed(1).padStart(6)} -> ${median(runs.map(r => r.last)).toFixed(1).padStart(6)} ms   ${ratio.toFixed(2)}x`)
  }
  const resultsDir = resolve(root, 'bench/.results')
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `render-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify({ tokensPerS: TOKENS_PER_S, parts: PARTS, targetRatio: TARGET_RATIO, results }, null, 2))
  console.log(`Results: ${file}`)
  process.exitCode = over ? 1 : 0
}

await main()
