// The built Flume server and headless Chromium, for the page-level benchmarks (page.mjs, render.mjs).

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { freePort } from './net.mjs'

/**
 * Starts `serverEntry` (a production build) on a free port of 127.0.0.1, with its own data
 * directory, against the OpenAI-compatible upstream at `upstreamUrl`; resolves once healthy.
 */
export async function startFlume(serverEntry, upstreamUrl, model) {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'flume-page-bench-'))
  let logs = ''
  const child = spawn(process.execPath, [serverEntry], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      FLUME_DATA_DIR: dataDir,
      OPENAI_BASE_URL: upstreamUrl,
      OPENAI_API_KEY: 'bench',
      FLUME_MODEL: model,
      FLUME_UPSTREAM_MAX_RETRIES: '0',
      FLUME_RATE_LIMITS: 'off',
      FLUME_MAX_STREAMS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (d) => {
    logs += d
  })
  child.stderr.on('data', (d) => {
    logs += d
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Flume exited (${child.exitCode}):\n${logs}`)
    try {
      if ((await fetch(`${url}/api/health`)).ok) break
    }
    catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`Flume did not start:\n${logs}`)
    }
    await new Promise(r => setTimeout(r, 100))
  }
  return {
    url,
    logs: () => logs,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise(r => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise(r => setTimeout(r, 5000))])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Debian's Chromium (or FLUME_CHROMIUM), headless, without a sandbox (containers). */
export async function launchChromium() {
  return await chromium.launch({
    executablePath: process.env.FLUME_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

/** A fresh context (empty cache) whose page may only reach `baseURL`. */
export async function newPage(browser, baseURL) {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 } })
  const origin = new URL(baseURL).origin
  await context.route(url => url.origin !== origin, route => route.abort())
  const page = await context.newPage()
  return { context, page }
}

export async function waitHydrated(page) {
  await page.waitForFunction(() => document.documentElement.dataset.hydrated === 'true', undefined, { timeout: 15_000, polling: 10 })
}

export async function typeAndEnter(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true })
  await box.click()
  await box.fill(text)
  await box.press('Enter')
}

/** Waits until the last answer is final. Polls only an attribute: no cost that grows with the text. */
export async function waitAnswerDone(page, timeout = 60_000) {
  await page.waitForFunction(() => {
    const all = document.querySelectorAll('article[data-role="assistant"]')
    const s = all[all.length - 1]?.getAttribute('data-status')
    return s === 'done' || s === 'error' || s === 'stopped'
  }, undefined, { timeout, polling: 250 })
}
