#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof` or `node --cpu-prof`):
// top functions by self time, top by inclusive time, and self time per package / area.
// Usage: node bench/prof-top.mjs <file.cpuprofile> [--top 30]

import { readFileSync } from 'node:fs'
import { summarize } from './lib/profile.mjs'

const file = process.argv[2]
if (!file) {
  console.error('usage: node bench/prof-top.mjs <file.cpuprofile> [--top N]')
  process.exit(2)
}
const topIdx = process.argv.indexOf('--top')
const TOP = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 30
const prof = JSON.parse(readFileSync(file, 'utf8'))
console.log(summarize(prof, TOP))
