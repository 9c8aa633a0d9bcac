// `npm run size:cloudflare`: the worker's upload size as Cloudflare counts it (wrangler's gzip
// figure), from `wrangler deploy --dry-run` of the cloudflare build; nothing is uploaded.
// Workers' limits after compression: 3 MB (free plan), 10 MB (paid).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const config = join(resolve(process.env.FLUME_OUTPUT_DIR || '.output-cloudflare'), 'server', 'wrangler.json')
if (!existsSync(config)) {
  console.error(`[flume] ${config} is missing: run npm run build:cloudflare first.`)
  process.exit(1)
}
const outdir = mkdtempSync(join(tmpdir(), 'flume-worker-'))
const wrangler = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url))
const result = spawnSync(process.execPath, [wrangler, 'deploy', '--dry-run', '--outdir', outdir, '--config', config], {
  encoding: 'utf8',
  env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
})
rmSync(outdir, { recursive: true, force: true })
const out = `${result.stdout}\n${result.stderr}`
const match = /Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/.exec(out)
if (result.status !== 0 || !match) {
  console.error(out)
  process.exit(1)
}
const [raw, gzip] = [Number(match[1]), Number(match[2])]
console.log(`worker upload: ${raw} KiB raw, ${gzip} KiB gzip (limits after compression: 3 MB free plan, 10 MB paid)`)
if (gzip > 3 * 1024) process.exitCode = 1
