import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'

/** Set: the next look at the secret file finds nothing, as when another process creates it just after. */
const race = { pending: false }

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>()
  const missing = () => {
    if (!race.pending) return false
    race.pending = false
    return true
  }
  return {
    ...fs,
    existsSync: (path: string) => (String(path).endsWith('session-secret') && missing() ? false : fs.existsSync(path)),
    readFileSync: (path: string, ...rest: unknown[]) => {
      if (String(path).endsWith('session-secret') && missing()) {
        throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })
      }
      return (fs.readFileSync as (...args: unknown[]) => unknown)(path, ...rest)
    },
  }
})

const dataDir = mkdtempSync(join(tmpdir(), 'flume-secret-'))
vi.stubGlobal('useFlumeConfig', () => ({ dataDir, sessionSecret: undefined }))
let ids = 0
vi.stubGlobal('newId', () => `generated-${++ids}-0123456789abcdef`)

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true })
  vi.unstubAllGlobals()
})

describe('the generated session secret', () => {
  it('two instances booting at once on one data directory end up with the same secret: the file is created exclusively, the loser reads the winner\'s', async () => {
    const winner = 'the-secret-another-instance-wrote-first-0123456789'
    writeFileSync(join(dataDir, 'session-secret'), winner)
    race.pending = true
    const { sessionSecret } = await import('../../server/http/identity')
    expect(sessionSecret()).toBe(winner)
    expect(readFileSync(join(dataDir, 'session-secret'), 'utf8')).toBe(winner)
  })
})
