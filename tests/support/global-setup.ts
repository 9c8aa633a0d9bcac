import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { root, serverEntry } from './paths'

/**
 * Builds the app once per `vitest run`. Both the e2e and the browser project list this
 * file; the stamp keeps the second from building again in the same run.
 * FLUME_SKIP_BUILD=1 reuses an existing build (handy while iterating on tests).
 */
export default function setup() {
  const stampDir = resolve(root, 'tests/.artifacts')
  const stamp = resolve(stampDir, 'build-stamp')
  const runId = String(process.pid)
  if (process.env.FLUME_SKIP_BUILD && existsSync(serverEntry)) return
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === runId && existsSync(serverEntry)) return
  const result = spawnSync('npx', ['nuxt', 'build'], { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } })
  if (result.status !== 0) throw new Error(`nuxt build failed with status ${result.status}`)
  mkdirSync(stampDir, { recursive: true })
  writeFileSync(stamp, runId)
}
