// Rendering cost along a long streamed answer, in headless Chromium (issue 3, part 4).
//
//   FLUME_OUTPUT_DIR=.output npm run bench:render        # uses a production build; builds nothing
//   npm run bench:render -- --tokens 20000 --tokens-per-s 500 --runs 1 --detail
//
// A fake OpenAI upstream in this process streams a 20,000-token markdown answer (headings,
// paragraphs with inline marks, bullet/numbered/nested lists, quotes, tables, code blocks in
// several languages) into the chat page of the built server, one SSE event per token at a steady
// rate. While it streams, Chromium records a trace (category `toplevel`): every task the page's
// main thread runs, with its start and duration. The upstream notes when it wrote each token, on
// the same monotonic clock, so the main thread's busy time can be split by token ranges.
//
// Reported: busy ms per 1,000 tokens for each 1,000-token slice, for the first and the last
// 2,000 tokens, and their ratio (target: within 1.5x, i.e. the cost of a token does not grow with
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
    'edge': { type: 'string', default: '2000' },
    'detail': { type: 'boolean', default: false },
    'css': { type: 'string', default: '' },
    'help': { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log('usage: npm run bench:render -- [--tokens 20000] [--tokens-per-s 500] [--runs 1] [--edge 2000] [--detail]\n'
    + '--edge: tokens at the start and at the end that are compared.\n'
    + '--detail: also trace devtools.timeline and print where the main thread spent its time.\n'
    + '--css: extra CSS added to every page (to try a rendering change without a build).\n'
    + 'Uses the build in .output (or FLUME_OUTPUT_DIR); Chromium from /usr/bin/chromium (or FLUME_CHROMIUM).')
  process.exit(0)
}
const TOKENS = Math.max(4000, Number(args.tokens) || 20000)
const TOKENS_PER_S = Math.max(1, Number(args['tokens-per-s']) || 500)
const RUNS = Math.max(1, Number(args.runs) || 1)
const EDGE = 1000 * Math.max(1, Math.min(Math.floor(TOKENS / 4000), Math.round((Number(args.edge) || 2000) / 1000)))
const TARGET_RATIO = 1.5
const MODEL = 'bench-model'
const TAG = 'bench-render-answer'
const FINAL_WORDS = 'End of the rendering benchmark.'

const outputDir = resolve(root, process.env.FLUME_OUTPUT_DIR || '.output')
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

/** Deterministic varied markdown of about `tokens` tokens, ending with FINAL_WORDS. */
function answerMarkdown(tokens) {
  const words = ('stream token answer model server browser render paragraph markdown latency frame '
    + 'update request response reader writer buffer chunk event source network client cache layout '
    + 'style script thread budget measure result figure target simple steady quick careful linear '
    + 'block table list quote heading code grammar highlight theme scroll focus').split(' ')
  let seed = 11
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  const pick = xs => xs[Math.floor(rnd() * xs.length)]
  const sentence = () => {
    const n = 7 + Math.floor(rnd() * 12)
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
  const paragraph = () => Array.from({ length: 2 + Math.floor(rnd() * 4) }, sentence).join(' ')
  const kinds = [
    () => paragraph(),
    () => Array.from({ length: 3 + Math.floor(rnd() * 3) }, () => `- ${sentence()}`).join('\n'),
    () => Array.from({ length: 3 + Math.floor(rnd() * 3) }, (_, i) => `${i + 1}. ${sentence()}`).join('\n'),
    () => `- ${sentence()}\n  - ${sentence()}\n  - ${sentence()}\n- ${sentence()}`,
    () => `> ${sentence()} ${sentence()}`,
    () => ['| Name | Value | Note |', '| --- | ---: | --- |',
      ...Array.from({ length: 3 + Math.floor(rnd() * 4) }, (_, i) => `| \`${pick(words)}\` | ${i * 17 + 3} | ${pick(words)} ${pick(words)} |`)].join('\n'),
    () => {
      const [lang, code] = pick(SNIPPETS)
      return `\`\`\`${lang}\n${code}\n\`\`\``
    },
  ]
  const blocks = []
  let count = 0
  let section = 0
  const push = (b) => {
    blocks.push(b)
    count += tokenize(`${b}\n\n`).length
  }
  const budget = tokens - tokenize(FINAL_WORDS).length - 2
  while (count < budget) {
    section++
    push(`## Section ${section}: ${pick(words)} and ${pick(words)}`)
    push(paragraph())
    // Every section has a code block or a table early on, so the start is not just prose.
    push(kinds[section % 2 ? 6 : 5]())
    for (let i = 0; i < 3; i++) push(pick(kinds)())
  }
  push(FINAL_WORDS)
  return blocks.join('\n\n')
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
  return { ...upstream, tokens: tokens.length, run }
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

async function measure(browser, flume, upstream) {
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

    const { tasks, key } = mainThreadTasks(events)
    const at = i => upstream.run.sentAt[i] + clockOffset
    const slices = []
    for (let s = 0; s * 1000 < upstream.tokens; s++) {
      const a = s * 1000
      const b = Math.min(upstream.tokens, a + 1000)
      // The slice's tokens were written between token a and token b (or the last one).
      const from = at(a)
      const to = b < upstream.tokens ? at(b) : at(upstream.tokens - 1) + 1e6 / TOKENS_PER_S
      slices.push({ tokens: b - a, ms: busyIn(tasks, from, to) / 1000, wallMs: (to - from) / 1000 })
    }
    const per1000 = (list) => {
      const t = list.reduce((s, x) => s + x.tokens, 0)
      return (1000 * list.reduce((s, x) => s + x.ms, 0)) / t
    }
    const edgeSlices = EDGE / 1000
    const start = per1000(slices.slice(0, edgeSlices))
    const second = per1000(slices.slice(edgeSlices, 2 * edgeSlices))
    const end = per1000(slices.slice(-edgeSlices))
    const total = per1000(slices)
    if (args.detail) {
      printDetail(events, key, at(0), at(EDGE), `first ${EDGE} tokens`)
      printDetail(events, key, at(upstream.tokens - EDGE), at(upstream.tokens - 1) + 1e6 / TOKENS_PER_S, `last ${EDGE} tokens`)
    }
    return { clockErrorUs: clockError, slices, start, second, end, total, ratio: end / start, ratioSteady: end / second, shown }
  }
  finally {
    await context.close()
  }
}

async function main() {
  const answer = answerMarkdown(TOKENS)
  const upstream = await startUpstream(answer)
  const flume = await startFlume(serverEntry, upstream.url, MODEL)
  const browser = await launchChromium()
  console.log(`Flume build: ${outputDir}; Chromium ${browser.version()}`)
  console.log(`Answer: ${answer.length} characters, ${upstream.tokens} tokens at ${TOKENS_PER_S} tokens/s, one SSE event each; ${RUNS} run(s)\n`)
  const runs = []
  try {
    for (let i = 0; i < RUNS; i++) {
      const r = await measure(browser, flume, upstream)
      runs.push(r)
      console.log(`Run ${i + 1}: ${r.shown.blocks} blocks, ${r.shown.tables} tables, ${r.shown.code} code blocks (${r.shown.highlighted} highlighted); clock check ±${r.clockErrorUs.toFixed(0)} µs`)
      console.log(`  busy ms per 1,000-token slice: ${r.slices.map(s => s.ms.toFixed(0)).join(' ')}`)
      console.log(`  (slice wall time ~${(r.slices[1]?.wallMs ?? 0).toFixed(0)} ms; busy share overall ${(100 * r.total / (1e6 / TOKENS_PER_S)).toFixed(1)}%)`)
      const mark = r.ratio <= TARGET_RATIO ? 'ok ' : 'OVER'
      console.log(`  first ${EDGE} tokens: ${r.start.toFixed(1)} ms / 1,000 tokens; tokens ${EDGE}-${2 * EDGE}: ${r.second.toFixed(1)}; last ${EDGE}: ${r.end.toFixed(1)}`)
      console.log(`${mark.padEnd(5)}end / start: ${r.ratio.toFixed(2)}  (end / tokens ${EDGE}-${2 * EDGE}: ${r.ratioSteady.toFixed(2)})   target <= ${TARGET_RATIO}\n`)
    }
    const resultsDir = resolve(root, 'bench/.results')
    mkdirSync(resultsDir, { recursive: true })
    const file = join(resultsDir, `render-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    writeFileSync(file, JSON.stringify({ tokens: upstream.tokens, chars: answer.length, tokensPerS: TOKENS_PER_S, edge: EDGE, targetRatio: TARGET_RATIO, runs }, null, 2))
    console.log(`Results: ${file}`)
  }
  catch (err) {
    console.error('Server logs (tail):\n', flume.logs().slice(-3000))
    throw err
  }
  finally {
    await browser.close()
    await flume.stop()
    await upstream.close()
  }
}

await main()
