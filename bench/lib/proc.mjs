// Per-process CPU and memory from /proc (Linux). CPU = utime + stime of all the process's
// threads (JS, GC, libuv pool), in seconds; this is what a server costs regardless of how
// the 2 cores of this machine are shared with the clients and the upstream.

import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

let clkTck = 100
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
}
catch { /* 100 is the Linux default */ }

/** CPU seconds (user, system) of a process so far, or null if it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(rest[11]) / clkTck
    const stime = Number(rest[12]) / clkTck
    return { user: utime, system: stime, total: utime + stime }
  }
  catch { return null }
}

/** { rssMB, hwmMB } from /proc/<pid>/status, or null. */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
      return m ? Number(m[1]) : NaN
    }
    return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 }
  }
  catch { return null }
}

/** Samples VmRSS of a process every `everyMs`; `peakMB` is the highest seen. */
export function rssSampler(pid, everyMs = 100) {
  const s = { peakMB: 0, samples: 0, lastMB: 0 }
  const tick = () => {
    const m = memory(pid)
    if (m && Number.isFinite(m.rssMB)) {
      s.lastMB = m.rssMB
      if (m.rssMB > s.peakMB) s.peakMB = m.rssMB
      s.samples++
    }
  }
  tick()
  const timer = setInterval(tick, everyMs)
  timer.unref()
  return {
    state: s,
    stop() {
      clearInterval(timer)
      tick()
      return s
    },
  }
}

/** Soft and hard limit of open files for this process (children inherit them). */
export function openFileLimit() {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8')
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits)
    if (m) return { soft: Number(m[1]) || Infinity, hard: Number(m[2]) || Infinity }
  }
  catch { /* not Linux */ }
  return { soft: NaN, hard: NaN }
}

/**
 * Main-thread scheduler figures from /proc/<pid>/schedstat: seconds on a CPU and seconds
 * spent runnable but waiting for a CPU (run-queue wait). A high wait means the process was
 * ready to work but the machine's cores were busy elsewhere: latency that is not its own.
 */
export function schedstat(pid) {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number)
    return { runS: run / 1e9, waitS: wait / 1e9 }
  }
  catch { return null }
}

/** Machine-wide CPU seconds so far (all cores): busy (not idle/iowait) and total, from /proc/stat. */
export function machineCpu() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    const busy = user + nice + system + irq + softirq + (steal || 0)
    return { busyS: busy / clkTck, totalS: (busy + idle + iowait) / clkTck }
  }
  catch { return null }
}

/**
 * Waits until the machine has been mostly idle (busy < maxBusy of all cores) for `quietMs`,
 * or `timeoutMs` passed. Returns the busy fraction last seen.
 */
export async function waitForQuiet({ maxBusy = 0.25, quietMs = 3000, timeoutMs = 120_000, onWait } = {}) {
  const start = Date.now()
  let quietSince = null
  let prev = machineCpu()
  let busy
  for (;;) {
    await new Promise(r => setTimeout(r, 500))
    const cur = machineCpu()
    if (!prev || !cur) return NaN
    busy = (cur.busyS - prev.busyS) / Math.max(1e-9, cur.totalS - prev.totalS)
    prev = cur
    if (busy < maxBusy) {
      quietSince ??= Date.now()
      if (Date.now() - quietSince >= quietMs) return busy
    }
    else {
      quietSince = null
    }
    if (Date.now() - start > timeoutMs) return busy
    onWait?.(busy)
  }
}
