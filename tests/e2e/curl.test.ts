/**
 * The README's "With curl" example works exactly as written: its code block is run by bash with
 * the real curl against a production build (the demo model), and what it prints is the stored
 * answers. The block is found as the first ```sh fence after the "### With curl" heading; only its
 * base URL (http://localhost:3000) is replaced by the test server's.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startFlume, type FlumeServer } from '../support/flume-server'
import { root } from '../support/paths'
import { createClient, getChat } from './helpers'

const run = promisify(execFile)

let flume: FlumeServer
let dir: string
beforeAll(async () => {
  flume = await startFlume({ FLUME_DEMO_DELAY_MS: '2' })
  dir = mkdtempSync(join(tmpdir(), 'flume-curl-'))
})
afterAll(async () => {
  await flume?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function readmeBlock(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = readme.indexOf('\n### With curl\n')
  expect(section, 'README.md has a "### With curl" section').toBeGreaterThan(0)
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(section))
  expect(block, 'a ```sh block in it').not.toBeNull()
  return block![1]!
}

it('the README\'s curl session prints both answers exactly as they are stored', async () => {
  const script = readmeBlock()
  expect(script).toContain('FLUME=http://localhost:3000\n')
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script.replace('FLUME=http://localhost:3000', `FLUME=${flume.url.replace(/\/$/, '')}`)], { cwd: dir, timeout: 20_000 })

  // The identity curl kept in its jar (Netscape format: name and value are the last two fields).
  const jar = readFileSync(join(dir, 'flume.jar'), 'utf8').split('\n').filter(line => line && !line.startsWith('# ') && line.includes('\t'))
  const client = createClient(flume.url)
  for (const line of jar) {
    const fields = line.split('\t')
    client.cookies.set(fields.at(-2)!, fields.at(-1)!)
  }
  const chatId = JSON.parse(readFileSync(join(dir, 'chat.json'), 'utf8')).id as string
  const chat = await getChat(client, chatId)
  const answers = chat.messages.filter(m => m.role === 'assistant')
  expect(answers.map(m => m.status)).toEqual(['done', 'done'])
  expect(chat.messages.filter(m => m.role === 'user').map(m => m.content)).toEqual(['Why is the sky blue?', 'And at sunset?'])
  expect(answers[0]!.content.length).toBeGreaterThan(0)
  expect(Buffer.from(stdout, 'utf8').equals(Buffer.from(`${answers[0]!.content}\n${answers[1]!.content}\n`, 'utf8'))).toBe(true)
})
