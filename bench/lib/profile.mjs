// Summary of a V8 .cpuprofile: self time by area (package / app chunk / node internals),
// top functions by self and by inclusive time. Used by prof-top.mjs and relay.mjs --cpu-prof.

export function summarize(prof, top = 30) {
  const byId = new Map()
  for (const n of prof.nodes) byId.set(n.id, n)
  const parent = new Map()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  const key = (n) => {
    const f = n.callFrame
    return `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`
  }
  const self = new Map()
  const incl = new Map()
  const area = new Map()
  let total = 0
  const deltas = prof.timeDeltas ?? []
  // Gaps between samples much longer than the sampling interval: the process was not running
  // (descheduled by a busy machine, or stopped), not executing JS.
  const sorted = [...deltas].sort((a, b) => a - b)
  const interval = sorted[Math.floor(sorted.length / 2)] ?? 0
  const isGap = d => d > 4 * interval && d > 2000
  // A gap counts as one interval of the sample before it; the rest is "descheduled".
  const cpuDelta = d => (isGap(d) ? interval : d) / 1000
  let gapMs = 0
  let maxGap = 0
  for (const d of deltas) {
    if (!isGap(d)) continue
    gapMs += (d - interval) / 1000
    maxGap = Math.max(maxGap, d / 1000)
  }
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = cpuDelta(deltas[i + 1] ?? deltas[i] ?? 0) // ms; delta i+1 is the time spent in sample i
    const node = byId.get(prof.samples[i])
    if (!node) continue
    total += dt
    const k = key(node)
    self.set(k, (self.get(k) ?? 0) + dt)
    const a = areaOf(node.callFrame)
    area.set(a, (area.get(a) ?? 0) + dt)
    const seen = new Set()
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const kk = key(byId.get(id))
      if (seen.has(kk)) continue
      seen.add(kk)
      incl.set(kk, (incl.get(kk) ?? 0) + dt)
    }
  }
  // Longest stretches of consecutive non-idle samples (event loop blocked that long).
  const stretches = []
  let cur = null
  for (let i = 0; i < prof.samples.length; i++) {
    const node = byId.get(prof.samples[i])
    const f = node?.callFrame.functionName
    const dt = cpuDelta(deltas[i + 1] ?? 0)
    if (!node || f === '(idle)' || f === '(program)') {
      if (cur) stretches.push(cur)
      cur = null
      continue
    }
    cur ??= { ms: 0, ids: [] }
    cur.ms += dt
    cur.ids.push(node.id)
  }
  if (cur) stretches.push(cur)
  stretches.sort((a, b) => b.ms - a.ms)

  const idleish = k => /^\((idle|root|program)\)/.test(k)
  const busy = total - [...self].filter(([k]) => idleish(k)).reduce((s, [, v]) => s + v, 0)
  const fmt = (list, denom) => list.map(([k, v]) => `${v.toFixed(1).padStart(9)} ms ${(100 * v / denom).toFixed(1).padStart(5)}%  ${k}`).join('\n')
  const lines = []
  lines.push(`profile: ${((total + gapMs) / 1000).toFixed(2)} s long, ${(busy / 1000).toFixed(2)} s running JS/native, not idle (percentages of the latter)`)
  lines.push(`sampling interval ~${(interval / 1000).toFixed(2)} ms; time between samples while not running (descheduled): ${(gapMs / 1000).toFixed(2)} s, longest gap ${maxGap.toFixed(0)} ms`)
  lines.push('\n-- longest busy stretches (event loop blocked), with the frames that dominate them --')
  for (const st of stretches.slice(0, 4)) {
    const counts = new Map()
    for (const id of st.ids) {
      const seen = new Set()
      for (let x = id; x !== undefined; x = parent.get(x)) {
        const k = key(byId.get(x))
        if (seen.has(k)) continue
        seen.add(k)
        counts.set(k, (counts.get(k) ?? 0) + 1)
      }
    }
    const top = [...counts].filter(([k]) => !idleish(k) && !/^(processTicksAndRejections|runMicrotasks) /.test(k)).sort((a, b) => b[1] - a[1]).slice(0, 4)
    lines.push(`${st.ms.toFixed(1).padStart(9)} ms  ${top.map(([k, v]) => `${Math.round((100 * v) / st.ids.length)}% ${k.trim()}`).join(' | ')}`)
  }
  lines.push('\n-- self time by area --')
  lines.push(fmt([...area].sort((a, b) => b[1] - a[1]).filter(([k]) => !idleish(k)).slice(0, 20), busy))
  lines.push(`\n-- top ${top} by self time --`)
  lines.push(fmt([...self].filter(([k]) => !idleish(k)).sort((a, b) => b[1] - a[1]).slice(0, top), busy))
  lines.push(`\n-- top ${top} by inclusive time --`)
  lines.push(fmt([...incl].filter(([k]) => !idleish(k)).sort((a, b) => b[1] - a[1]).slice(0, top), busy))
  return lines.join('\n')
}

function shortUrl(url) {
  if (!url) return ''
  return url.replace(/^file:\/\//, '').replace(/^.*?\/(\.output[^/]*)\//, '$1/').replace(/^.*\/node_modules\//, 'node_modules/')
}

function areaOf(f) {
  const url = f.url ?? ''
  if (!url) return f.functionName.startsWith('(') ? f.functionName : '(native/builtin)'
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return `pkg ${nm[1]}`
  const out = /\.output[^/]*\/server\/(.*)$/.exec(url)
  if (out) return `app ${out[1]}`
  return url.replace(/^file:\/\//, '')
}
