import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { edgeBuildDir, edgeOutputDir } from './edge'
import { root } from './paths'

/**
 * Builds the cloudflare-module preset once per `vitest run` (the `edge` project), into its own
 * directories so it never replaces the Node build the other projects use.
 * FLUME_SKIP_BUILD=1 reuses an existing build.
 */
export default function setup() {
  if (process.env.FLUME_SKIP_BUILD && existsSync(`${edgeOutputDir}/server/wrangler.json`)) return
  const result = spawnSync('npx', ['nuxt', 'build'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production', NITRO_PRESET: 'cloudflare_module', FLUME_BUILD_DIR: edgeBuildDir, FLUME_OUTPUT_DIR: edgeOutputDir },
  })
  if (result.status !== 0) throw new Error(`nuxt build (cloudflare_module) failed with status ${result.status}`)
}
