// Loaded into both server children (Flume and the bare relay) with `node --import`, so the
// bench can see inside them during each measurement window:
// - event-loop delay (monitorEventLoopDelay, 10 ms resolution) and GC pauses (PerformanceObserver);
// - with BENCH_CPU_PROF_PREFIX set (bench --cpu-prof), a V8 CPU profile of the window.
// The bench sends SIGUSR2 at the start and at the end of each window; window n's figures go to
// $BENCH_STATS_DIR/window-<n>.json and the profile to $BENCH_CPU_PROF_PREFIX-<n>.cpuprofile.
// Summarise a profile with `node bench/prof-top.mjs <file>`, or open it in Chrome DevTools.
// - memory (process.memoryUsage: V8 heap vs off-heap buffers) sampled every 250 ms in a window.
// Cost when idle: one 10 ms timer-based histogram; the profiler only runs when asked.

import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { join } from 'node:path'

const statsDir = process.env.BENCH_STATS_DIR
const profPrefix = process.env.BENCH_CPU_PROF_PREFIX

if (statsDir) {
  const RESOLUTION_MS = 10
  const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  eld.enable()
  let gc = { count: 0, ms: 0, maxMs: 0 }
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++
      gc.ms += e.duration
      if (e.duration > gc.maxMs) gc.maxMs = e.duration
    }
  }).observe({ entryTypes: ['gc'] })

  // Memory while a window is open: peak and end of the V8 heap and of off-heap buffers.
  const mb = v => Math.round(v / 1048576)
  let memPeak = null
  let memTimer
  const sampleMem = () => {
    const m = process.memoryUsage()
    memPeak ??= { ...m }
    for (const k of Object.keys(m)) if (m[k] > memPeak[k]) memPeak[k] = m[k]
  }
  const mbAll = m => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, mb(v)]))

  let session
  const post = (method, params) => new Promise((resolve, reject) =>
    session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))))
  let window = 0
  let open = false
  process.on('SIGUSR2', async () => {
    try {
      if (!open) {
        open = true
        window++
        eld.reset()
        gc = { count: 0, ms: 0, maxMs: 0 }
        memPeak = null
        sampleMem()
        memTimer = setInterval(sampleMem, 250)
        memTimer.unref()
        if (profPrefix) {
          if (!session) {
            session = new Session()
            session.connect()
          }
          await post('Profiler.enable')
          await post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_CPU_PROF_INTERVAL_US ?? 250) })
          await post('Profiler.start')
        }
      }
      else {
        open = false
        const n = window
        clearInterval(memTimer)
        sampleMem()
        const memEnd = process.memoryUsage()
        let profile
        if (profPrefix) {
          profile = `${profPrefix}-${n}.cpuprofile`
          const res = await post('Profiler.stop')
          writeFileSync(profile, JSON.stringify(res.profile))
        }
        // The histogram holds the interval between the 10 ms sampling timer's runs: subtract
        // the resolution to get the delay beyond it.
        const ms = v => Number(Math.max(0, v / 1e6 - RESOLUTION_MS).toFixed(3))
        writeFileSync(join(statsDir, `window-${n}.json`), JSON.stringify({
          window: n,
          loopDelayMs: { p50: ms(eld.percentile(50)), p90: ms(eld.percentile(90)), p99: ms(eld.percentile(99)), max: ms(eld.max), mean: ms(eld.mean) }, windowNote: 'delays beyond the 10 ms sampling timer',
          gc: { count: gc.count, ms: Number(gc.ms.toFixed(1)), maxMs: Number(gc.maxMs.toFixed(1)) },
          memoryMB: { peak: mbAll(memPeak), end: mbAll(memEnd) },
          profile,
        }))
      }
    }
    catch (e) { process.stderr.write(`[bench preload] ${e?.stack ?? e}\n`) }
  })
}
