import { resolve } from 'node:path'

export const root = resolve(import.meta.dirname, '../..')
/** Where the production build used by e2e, browser tests and the bench lives. */
export const outputDir = resolve(root, process.env.FLUME_OUTPUT_DIR || '.output')
export const serverEntry = resolve(outputDir, 'server/index.mjs')
