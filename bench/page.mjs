// Page weight and speed of the production build in headless Chromium (issue 3, part 7).
//
//   npm run build                  # this script builds nothing: it uses .output (or FLUME_OUTPUT_DIR)
//   npx node bench/page.mjs        # through npm, so on the project's Node 24
//   npx node bench/page.mjs --runs 3 --tokens-per-s 500 --chars 30000
//
// It starts the built server on 127.0.0.1 against a fake OpenAI upstream that lives in this
// process (so the upstream's "last chunk written" and the page's "final text shown" are read on
// the same machine clock), drives /usr/bin/chromium (FLUME_CHROMIUM) through playwright-core,
// and prints each figure next to the issue's target. Results also go to bench/.results/ (JSON).
//
// Figures:
// - home page JS: every script response of a cold load of `/` (until hydrated and quiet), each
//   body gzipped here with zlib (level 6) whatever the server sent, summed. Also what a plain
//   text chat adds (the highlighter must not load without a code block).
// - DOMContentLoaded: navigation timing's domContentLoadedEventEnd, median of N cold loads (new
//   browser context each time: empty cache), after one load that warms the server up.
// - Enter to first word: from the Enter keydown in the composer (page clock) to the first
//   assistant text in the DOM, after the next frame; the upstream answers at once. Median of N,
//   from the home page (a new chat) and as a follow-up in an open chat.
// - Long answer (~30,000 characters of markdown at ~500 tokens/s, one SSE event per token):
//   main-thread busy % between the first and the final text on screen (CDP Performance
//   metrics: TaskDuration / wall time; long tasks > 50 ms listed too), and the delay from the
//   upstream writing its last chunk to the final words being on screen.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import { launchChromium, newPage as newBarePage, startFlume, typeAndEnter, waitAnswerDone, waitHydrated } from './lib/browser.mjs'
import { startPacedUpstream } from './lib/paced-upstream.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    'runs': { type: 'string', default: '5' },
    'tokens-per-s': { type: 'string', default: '500' },
    'chars': { type: 'string', default: '30000' },
    'trace': { type: 'boolean', default: false },
    'only': { type: 'string', default: '' },
    'help': { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log('usage: npx node bench/page.mjs [--runs 5] [--tokens-per-s 500] [--chars 30000] [--trace] [--only js,dcl,first-word,long]\n'
    + '--trace: a Chromium trace of the first long answer, main-thread time by event printed.\n'
    + '--only: measure only these figures (all by default).\n'
    + 'Uses the build in .output (or FLUME_OUTPUT_DIR); Chromium from /usr/bin/chromium (or FLUME_CHROMIUM).')
  process.exit(0)
}
const RUNS = Math.max(1, Number(args.runs) || 5)
const TOKENS_PER_S = Math.max(1, Number(args['tokens-per-s']) || 500)
const LONG_CHARS = Math.max(1000, Number(args.chars) || 30000)
const FIGURES = ['js', 'dcl', 'first-word', 'long']
const ONLY = args.only ? args.only.split(',').map(s => s.trim()).filter(Boolean) : FIGURES
if (ONLY.some(f => !FIGURES.includes(f))) {
  console.error(`--only takes some of: ${FIGURES.join(', ')}`)
  process.exit(1)
}
const wanted = figure => ONLY.includes(figure)

const TARGETS = {
  homeJsKb: 150,
  dclMs: 250,
  firstWordMs: 150,
  finalTextMs: 100,
  busyPct: 30,
}

const outputDir = resolve(root, process.env.FLUME_OUTPUT_DIR || '.output')
const serverEntry = join(outputDir, 'server/index.mjs')
if (!existsSync(serverEntry)) {
  console.error(`No build at ${serverEntry}: run \`npm run build\` first (or set FLUME_OUTPUT_DIR).`)
  process.exit(1)
}

const MODEL = 'bench-model'
const LONG_TAG = 'bench-long-answer'
const FINAL_WORDS = 'End of the benchmark answer.'
const wallNow = () => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------------------------------------
// The long markdown answer: headings, paragraphs with inline marks, lists, a table, two code
// blocks; deterministic, about LONG_CHARS characters, ending with FINAL_WORDS.

function longMarkdown(chars) {
  const words = ('stream token answer model server browser render paragraph markdown latency frame '
    + 'update request response reader writer buffer chunk event source network client cache layout '
    + 'style script thread budget measure result figure target simple steady quick careful').split(' ')
  let seed = 7
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  const word = () => words[Math.floor(rnd() * words.length)]
  const sentence = () => {
    const n = 8 + Math.floor(rnd() * 12)
    const parts = Array.from({ length: n }, (_, i) => {
      const w = word()
      const r = rnd()
      if (i > 0 && r < 0.05) return `**${w}**`
      if (i > 0 && r < 0.09) return `\`${w}()\``
      if (i > 0 && r < 0.12) return `*${w}*`
      return w
    })
    const s = parts.join(' ')
    return s[0].toUpperCase() + s.slice(1) + '.'
  }
  const paragraph = () => Array.from({ length: 3 + Math.floor(rnd() * 3) }, sentence).join(' ')
  const blocks = []
  let size = 0
  let section = 0
  const push = (b) => {
    blocks.push(b)
    size += b.length + 2
  }
  const code = [
    '```js\nexport function debounce(fn, ms) {\n  let timer\n  return (...args) => {\n    clearTimeout(timer)\n    timer = setTimeout(() => fn(...args), ms)\n  }\n}\n```',
    '```python\ndef chunks(items, size):\n    for i in range(0, len(items), size):\n        yield items[i:i + size]\n```',
  ]
  while (size < chars - FINAL_WORDS.length - 200) {
    section++
    push(`## Section ${section}: ${word()} and ${word()}`)
    push(paragraph())
    if (section % 3 === 1) push(Array.from({ length: 4 }, (_, i) => `${i + 1}. ${sentence()}`).join('\n'))
    if (section % 3 === 2) push(Array.from({ length: 4 }, () => `- ${sentence()}`).join('\n'))
    if (section % 4 === 0) {
      push(['| Name | Value | Note |', '| --- | --- | --- |',
        ...Array.from({ length: 4 }, (_, i) => `| ${word()} | ${i * 17} | ${word()} ${word()} |`)].join('\n'))
    }
    if (section === 3 || section === 9) push(code[section === 3 ? 0 : 1])
    push(paragraph())
  }
  push(FINAL_WORDS)
  return blocks.join('\n\n')
}

/** Tokens about as a model cuts them: words with their leading space, long words in pieces. */
function tokenize(text) {
  return text.match(/\s*\S{1,6}|\s+/g) ?? []
}

// ---------------------------------------------------------------------------------------------
// Fake OpenAI upstream: streams the long answer when the last user message has LONG_TAG,
// a short answer at once otherwise; non-streamed calls (titles) get a short JSON answer.

async function startUpstream() {
  const long = longMarkdown(LONG_CHARS)
  const longTokens = tokenize(long)
  const state = { lastChunkAt: 0, longRequests: 0 }
  const upstream = await startPacedUpstream({
    model: MODEL,
    tag: LONG_TAG,
    tokens: longTokens,
    tokensPerS: TOKENS_PER_S,
    quick: ['Hello', ' there!', ' This', ' is', ' a', ' quick', ' answer.'],
    title: 'Benchmark chat',
    onStart() {
      state.longRequests++
    },
    onEnd() {
      state.lastChunkAt = wallNow()
    },
  })
  return { ...upstream, state, long, longTokens: longTokens.length }
}

// ---------------------------------------------------------------------------------------------
// Browser helpers

/** lib/browser.mjs's page, also recording long tasks from the start of every document. */
async function newPage(browser, baseURL) {
  const { context, page } = await newBarePage(browser, baseURL)
  await page.addInitScript(() => {
    window.__longTasks = []
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration })
      }).observe({ type: 'longtask', buffered: true })
    }
    catch { /* not supported */ }
  })
  return { context, page }
}

/** Script responses of the page so far: url -> { bytes, gzip, encoding }. */
function collectScripts(page) {
  const scripts = new Map()
  const pending = []
  page.on('response', (response) => {
    const type = response.request().resourceType()
    const url = response.url()
    if (type !== 'script' && !/\.m?js(\?|$)/.test(url)) return
    if (scripts.has(url)) return
    scripts.set(url, null)
    pending.push(response.body().then((body) => {
      scripts.set(url, { bytes: body.length, gzip: gzipSync(body, { level: 6 }).length, encoding: response.headers()['content-encoding'] ?? 'none' })
    }).catch(() => scripts.delete(url)))
  })
  return {
    async settle() {
      await Promise.all(pending)
    },
    snapshot() {
      return new Map([...scripts].filter(([, v]) => v))
    },
  }
}

const sumGzip = scripts => [...scripts.values()].reduce((s, v) => s + v.gzip, 0)

/**
 * Installs, in the page, the Enter → first assistant text watch. Resolves in the page with the
 * delay (ms, page clock) once a new assistant article has text and a frame has gone by.
 */
async function armFirstWord(page) {
  await page.evaluate(() => {
    const before = document.querySelectorAll('article[data-role="assistant"]').length
    const bench = { enter: 0, first: 0 }
    window.__firstWord = bench
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !bench.enter) bench.enter = performance.now()
    }, { capture: true })
    const textOf = (el) => {
      let t = ''
      for (const child of el.children) {
        if (child.matches('[role="status"], [role="alert"], button, .message-note')) continue
        t += child.textContent
      }
      return t.trim()
    }
    const check = () => {
      if (bench.first) return
      const all = document.querySelectorAll('article[data-role="assistant"]')
      if (all.length <= before) return
      const el = all[all.length - 1]
      if (!textOf(el)) return
      bench.first = -1
      observer.disconnect()
      // On screen: after the frame that shows it.
      requestAnimationFrame(() => setTimeout(() => {
        bench.first = performance.now()
      }, 0))
    }
    const observer = new MutationObserver(check)
    observer.observe(document.body, { subtree: true, childList: true, characterData: true })
  })
}

async function firstWordDelay(page) {
  const handle = await page.waitForFunction(() => window.__firstWord.first > 0 && window.__firstWord.enter > 0
    ? window.__firstWord.first - window.__firstWord.enter
    : false, undefined, { timeout: 15_000, polling: 10 })
  return await handle.jsonValue()
}

/** The requests since Enter (resource timing), in ms from Enter: where a first word's time went. */
async function firstWordSteps(page) {
  return await page.evaluate(() => {
    const { enter, first } = window.__firstWord
    const short = (url) => {
      const u = new URL(url)
      return (u.pathname + u.search).replace(/[A-Za-z0-9_-]{16,}/g, ':id')
    }
    return [
      ...performance.getEntriesByType('resource')
        .filter(e => e.startTime >= enter)
        .map(e => ({ what: `${e.initiatorType} ${short(e.name)}`, start: e.startTime - enter, end: e.responseEnd ? e.responseEnd - enter : null })),
      { what: 'first word on screen', start: first - enter, end: null },
    ].sort((a, b) => a.start - b.start)
  })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const round = (x, d = 0) => Math.round(x * 10 ** d) / 10 ** d

// ---------------------------------------------------------------------------------------------
// Measurements

async function measureHomeJs(browser, url) {
  const { context, page } = await newPage(browser, url)
  const scripts = collectScripts(page)
  await page.goto('/', { waitUntil: 'load' })
  await waitHydrated(page)
  await page.waitForLoadState('networkidle')
  await scripts.settle()
  const home = scripts.snapshot()
  // One plain-text chat: what it adds (the highlighter must stay out).
  await armFirstWord(page)
  await typeAndEnter(page, 'Say hello')
  await firstWordDelay(page)
  await waitAnswerDone(page)
  await page.waitForLoadState('networkidle')
  await scripts.settle()
  const afterChat = scripts.snapshot()
  await context.close()
  return {
    homeFiles: home.size,
    homeBytes: [...home.values()].reduce((s, v) => s + v.bytes, 0),
    homeGzip: sumGzip(home),
    encodings: [...new Set([...home.values()].map(v => v.encoding))],
    afterChatFiles: afterChat.size,
    afterChatGzip: sumGzip(afterChat),
  }
}

async function measureDcl(browser, url) {
  const loads = []
  for (let i = 0; i <= RUNS; i++) {
    const { context, page } = await newPage(browser, url)
    await page.goto('/', { waitUntil: 'load' })
    const dcl = await page.evaluate(() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd)
    await context.close()
    if (i > 0) loads.push(dcl) // the first one warms the server up
  }
  return loads
}

async function measureFirstWord(browser, url) {
  const fromHome = []
  const followUp = []
  const steps = []
  for (let i = 0; i < RUNS; i++) {
    const { context, page } = await newPage(browser, url)
    await page.goto('/')
    await waitHydrated(page)
    await armFirstWord(page)
    const trace = args.trace && i === 0 ? await startTrace(context, page) : null
    await typeAndEnter(page, `Hello ${i}`)
    fromHome.push(await firstWordDelay(page))
    if (trace) {
      const events = await trace.stop()
      printTraceSummary(events, 'new chat, Enter to first word')
      mkdirSync(resolve(root, 'bench/.results'), { recursive: true })
      const file = resolve(root, 'bench/.results/trace-new-chat.json')
      writeFileSync(file, JSON.stringify({ traceEvents: events }))
      console.log(`Trace file (Chrome DevTools, Performance > Load profile): ${file}\n`)
    }
    steps.push(await firstWordSteps(page))
    await waitAnswerDone(page)
    await armFirstWord(page)
    await typeAndEnter(page, `And again ${i}`)
    followUp.push(await firstWordDelay(page))
    await waitAnswerDone(page)
    await context.close()
  }
  return { fromHome, followUp, steps }
}

async function measureLongAnswer(browser, url, upstream) {
  const runs = []
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    const { context, page } = await newPage(browser, url)
    const cdp = await context.newCDPSession(page)
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' })
    // A chat already open (its first, short answer done), so the window holds only the long one.
    await page.goto('/')
    await waitHydrated(page)
    await typeAndEnter(page, 'Hi')
    await page.waitForURL(/\/chat\//)
    await waitAnswerDone(page)
    await page.evaluate((finalWords) => {
      const before = document.querySelectorAll('article[data-role="assistant"]').length
      const w = { first: 0, final: 0, finalWall: 0 }
      window.__long = w
      const check = () => {
        const all = document.querySelectorAll('article[data-role="assistant"]')
        if (all.length <= before) return
        const el = all[all.length - 1]
        const text = el.querySelector('.markdown')?.textContent ?? ''
        if (!w.first && text.trim()) w.first = performance.now()
        if (!w.final && text.includes(finalWords)) {
          w.final = -1
          observer.disconnect()
          requestAnimationFrame(() => setTimeout(() => {
            w.final = performance.now()
            w.finalWall = performance.timeOrigin + performance.now()
          }, 0))
        }
      }
      const observer = new MutationObserver(check)
      observer.observe(document.body, { subtree: true, childList: true, characterData: true })
    }, FINAL_WORDS)
    const tracing = args.trace && i === 0
    const traceEvents = []
    if (tracing) {
      cdp.on('Tracing.dataCollected', e => traceEvents.push(...e.value))
      await cdp.send('Tracing.start', { categories: 'devtools.timeline,disabled-by-default-devtools.timeline,v8', transferMode: 'ReportEvents' })
    }
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map(m => [m.name, m.value]))
    await typeAndEnter(page, `Write a long answer (${LONG_TAG} ${i})`)
    await page.waitForFunction(() => window.__long.first > 0, undefined, { timeout: 15_000, polling: 10 })
    const m0 = await metrics()
    const t0 = await page.evaluate(() => performance.now())
    await page.waitForFunction(() => window.__long.final > 0, undefined, { timeout: 120_000, polling: 20 })
    const m1 = await metrics()
    const w = await page.evaluate(() => ({ ...window.__long, longTasks: window.__longTasks }))
    if (tracing) {
      const done = new Promise(r => cdp.once('Tracing.tracingComplete', r))
      await cdp.send('Tracing.end')
      await done
      printTraceSummary(traceEvents)
    }
    const inWindow = w.longTasks.filter(t => t.start >= t0 && t.start <= w.final)
    runs.push({
      busyPct: 100 * (m1.TaskDuration - m0.TaskDuration) / (m1.Timestamp - m0.Timestamp),
      scriptPct: 100 * (m1.ScriptDuration - m0.ScriptDuration) / (m1.Timestamp - m0.Timestamp),
      layoutPct: 100 * ((m1.LayoutDuration - m0.LayoutDuration) + (m1.RecalcStyleDuration - m0.RecalcStyleDuration)) / (m1.Timestamp - m0.Timestamp),
      windowMs: (m1.Timestamp - m0.Timestamp) * 1000,
      finalAfterLastChunkMs: w.finalWall - upstream.state.lastChunkAt,
      longTasks: inWindow.length,
      longTaskMs: inWindow.reduce((s, t) => s + t.duration, 0),
      longestTaskMs: Math.max(0, ...inWindow.map(t => t.duration)),
    })
    await waitAnswerDone(page)
    await context.close()
  }
  return runs
}

async function startTrace(context, page) {
  const cdp = await context.newCDPSession(page)
  const events = []
  cdp.on('Tracing.dataCollected', e => events.push(...e.value))
  await cdp.send('Tracing.start', { categories: 'devtools.timeline,disabled-by-default-devtools.timeline,v8', transferMode: 'ReportEvents' })
  return {
    async stop() {
      const done = new Promise(r => cdp.once('Tracing.tracingComplete', r))
      await cdp.send('Tracing.end')
      await done
      return events
    },
  }
}

/** Main-thread time of a trace by event name (complete events of the renderer's main thread). */
function printTraceSummary(events, what = 'long answer') {
  const main = events.find(e => e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
  if (!main) return
  const mine = events.filter(e => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur)
  const tasks = mine.filter(e => e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask')
  const span = (Math.max(...mine.map(e => e.ts + e.dur)) - Math.min(...mine.map(e => e.ts))) / 1000
  const byName = new Map()
  for (const e of mine) byName.set(e.name, (byName.get(e.name) ?? 0) + e.dur / 1000)
  console.log(`\nTrace (${what}): ${round(span)} ms of renderer main thread, top-level tasks ${round(tasks.reduce((s, e) => s + e.dur / 1000, 0))} ms`)
  for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    console.log(`  ${name.padEnd(48)}${String(round(ms)).padStart(8)} ms  ${String(round(100 * ms / span, 1)).padStart(5)}%`)
  }
  console.log('')
}

// ---------------------------------------------------------------------------------------------

function line(label, value, target, ok) {
  const mark = ok === undefined ? '   ' : ok ? 'ok ' : 'OVER'
  console.log(`${mark.padEnd(5)}${label.padEnd(44)}${String(value).padStart(14)}   target ${target}`)
}

async function main() {
  const upstream = await startUpstream()
  const flume = await startFlume(serverEntry, upstream.url, MODEL)
  const browser = await launchChromium()
  console.log(`Flume build: ${outputDir}`)
  console.log(`Server: ${flume.url}; upstream: ${upstream.url}; Chromium ${browser.version()}; ${RUNS} runs`)
  console.log(`Long answer: ${upstream.long.length} characters, ${upstream.longTokens} tokens at ${TOKENS_PER_S} tokens/s\n`)
  try {
    const js = wanted('js') ? await measureHomeJs(browser, flume.url) : null
    const dcl = wanted('dcl') ? await measureDcl(browser, flume.url) : null
    const first = wanted('first-word') ? await measureFirstWord(browser, flume.url) : null
    const long = wanted('long') ? await measureLongAnswer(browser, flume.url, upstream) : null

    const kb = b => round(b / 1024, 1)
    if (js) {
      line('Home page JS (gzip, KB)', `${kb(js.homeGzip)}`, `<= ${TARGETS.homeJsKb} KB`, kb(js.homeGzip) <= TARGETS.homeJsKb)
      console.log(`       ${js.homeFiles} files, ${kb(js.homeBytes)} KB uncompressed; server's content-encoding: ${js.encodings.join(', ')}`)
      line('JS after one plain-text chat (gzip, KB)', `${kb(js.afterChatGzip)}`, '(no highlighter for plain text)')
      console.log(`       ${js.afterChatFiles} files`)
    }
    if (dcl) {
      line('DOMContentLoaded (median, ms)', round(median(dcl)), `<= ${TARGETS.dclMs} ms`, median(dcl) <= TARGETS.dclMs)
      console.log(`       runs: ${dcl.map(x => round(x)).join(', ')}`)
    }
    if (first) {
      line('Enter -> first word, new chat (median, ms)', round(median(first.fromHome)), `<= ${TARGETS.firstWordMs} ms`, median(first.fromHome) <= TARGETS.firstWordMs)
      console.log(`       runs: ${first.fromHome.map(x => round(x)).join(', ')}`)
      const mid = first.fromHome.indexOf(median(first.fromHome))
      for (const step of first.steps[mid === -1 ? 0 : mid]) {
        console.log(`       ${String(round(step.start)).padStart(5)}${step.end === null ? '' : ` -> ${round(step.end)}`} ms  ${step.what}`)
      }
      line('Enter -> first word, follow-up (median, ms)', round(median(first.followUp)), `<= ${TARGETS.firstWordMs} ms`, median(first.followUp) <= TARGETS.firstWordMs)
      console.log(`       runs: ${first.followUp.map(x => round(x)).join(', ')}`)
    }
    if (long) {
      const busy = median(long.map(r => r.busyPct))
      const finalMs = median(long.map(r => r.finalAfterLastChunkMs))
      line('Long answer: final text after last chunk (ms)', round(finalMs), `<= ${TARGETS.finalTextMs} ms`, finalMs <= TARGETS.finalTextMs)
      console.log(`       runs: ${long.map(r => round(r.finalAfterLastChunkMs)).join(', ')}`)
      line('Long answer: main thread busy (median, %)', round(busy, 1), `< ${TARGETS.busyPct} %`, busy < TARGETS.busyPct)
      for (const r of long) {
        console.log(`       ${round(r.windowMs)} ms window: busy ${round(r.busyPct, 1)}% (script ${round(r.scriptPct, 1)}%, style+layout ${round(r.layoutPct, 1)}%), `
          + `${r.longTasks} long tasks = ${round(r.longTaskMs)} ms (longest ${round(r.longestTaskMs)} ms)`)
      }
    }

    const resultsDir = resolve(root, 'bench/.results')
    mkdirSync(resultsDir, { recursive: true })
    const file = join(resultsDir, `page-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    writeFileSync(file, JSON.stringify({ targets: TARGETS, runs: RUNS, tokensPerS: TOKENS_PER_S, longChars: upstream.long.length, js, dcl, first, long }, null, 2))
    console.log(`\nResults: ${file}`)
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
