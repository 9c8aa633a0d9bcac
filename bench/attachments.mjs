// A photo attached to a question (docs/attachments.md): how long from pasting a 5 MB, 4000 x 3000
// JPEG into the composer to the first word of the answer on screen, against a production build
// and an upstream that answers at once. The browser scales the photo down (2048 px, JPEG 0.85)
// and uploads it; Send goes as soon as the upload is done.
//
//   npm run build && npm run bench:attachments      # this build (.output, or FLUME_OUTPUT_DIR)
//   node bench/attachments.mjs --runs 9 --output .output-attach
//
// Figures (page clock, median of --runs, one fresh browser context each):
// - downscale: paste → the upload starts (decoding, scaling and encoding in the browser);
// - upload: the upload starts → the server's answer is shown (chip `done`);
// - upload to first token: the photo is up → Send → the chat page and the first answer word on screen;
// - total: paste → first token.

import os from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { launchChromium, newPage, startFlume, waitHydrated } from './lib/browser.mjs'
import { median } from './lib/crowd.mjs'
import { startPacedUpstream } from './lib/paced-upstream.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    output: { type: 'string', default: process.env.FLUME_OUTPUT_DIR || '.output' },
    runs: { type: 'string', default: '7' },
    megabytes: { type: 'string', default: '5' },
  },
})
const runs = Number(args.runs)
const targetBytes = Number(args.megabytes) * 1e6
const round = x => Math.round(x)

/**
 * Runs in the page: a 4000 x 3000 JPEG of about `target` bytes (a gradient with noise, as a photo
 * of grass or gravel would be), found by trying a few noise levels. Kept in `window.__photo`.
 */
async function makePhoto(target) {
  const width = 4000
  const height = 3000
  const canvas = new OffscreenCanvas(width, height)
  const ctx = canvas.getContext('2d')
  const gradient = ctx.createLinearGradient(0, 0, width, height)
  gradient.addColorStop(0, '#4a7a3a')
  gradient.addColorStop(1, '#c8b27a')
  const encode = async (amplitude) => {
    ctx.fillStyle = gradient
    ctx.fillRect(0, 0, width, height)
    const image = ctx.getImageData(0, 0, width, height)
    const noise = new Uint8Array(image.data.length)
    for (let i = 0; i < noise.length; i += 65536) crypto.getRandomValues(noise.subarray(i, i + 65536))
    for (let i = 0; i < image.data.length; i += 4) {
      for (let c = 0; c < 3; c++) image.data[i + c] = Math.max(0, Math.min(255, image.data[i + c] + ((noise[i + c] / 255) - 0.5) * amplitude))
    }
    ctx.putImageData(image, 0, 0)
    return await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 })
  }
  let low = 0
  let high = 255
  let best
  for (let step = 0; step < 7; step++) {
    const amplitude = (low + high) / 2
    const blob = await encode(amplitude)
    if (!best || Math.abs(blob.size - target) < Math.abs(best.size - target)) best = blob
    if (Math.abs(blob.size - target) < target * 0.05) break
    if (blob.size < target) low = amplitude
    else high = amplitude
  }
  window.__photo = new File([best], 'photo.jpg', { type: 'image/jpeg' })
  return best.size
}

/** Runs in the page: pastes the photo, sends once it is up, resolves with the times (ms, page clock). */
async function attachAndSend() {
  const times = { paste: 0, uploading: 0, done: 0, send: 0, first: 0, uploaded: '' }
  const textOf = (el) => {
    let t = ''
    for (const child of el.children) {
      if (child.matches('[role="status"], [role="alert"], button, .message-note')) continue
      t += child.textContent
    }
    return t.trim()
  }
  return await new Promise((resolveTimes, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out: ${JSON.stringify(times)}`)), 60_000)
    const check = () => {
      const chip = document.querySelector('form.composer .chip')
      const state = chip?.getAttribute('data-state')
      if (!times.uploading && (state === 'uploading' || state === 'done')) times.uploading = performance.now()
      if (state === 'error') reject(new Error(chip.textContent))
      if (!times.done && state === 'done') {
        times.done = performance.now()
        times.uploaded = chip.querySelector('.chip-meta')?.textContent
        times.send = performance.now()
        document.querySelector('form.composer button[type="submit"]').click()
      }
      if (times.send && !times.first) {
        const answers = document.querySelectorAll('article[data-role="assistant"]')
        const last = answers[answers.length - 1]
        if (last && textOf(last)) {
          times.first = -1
          // On screen: after the frame that shows it.
          requestAnimationFrame(() => setTimeout(() => {
            times.first = performance.now()
            observer.disconnect()
            clearTimeout(timer)
            resolveTimes(times)
          }, 0))
        }
      }
    }
    const observer = new MutationObserver(check)
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-state'] })
    const box = document.querySelector('textarea[aria-label="Message"]')
    const data = new DataTransfer()
    data.items.add(window.__photo)
    times.paste = performance.now()
    box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
  })
}

const upstream = await startPacedUpstream({ model: 'bench', tag: '\u0000never', tokens: [], tokensPerS: 1, quick: ['A ', 'field ', 'of ', 'grass.'], title: 'A photo' })
const flume = await startFlume(resolve(root, args.output, 'server/index.mjs'), upstream.url, 'bench')
const browser = await launchChromium()
const load = () => os.loadavg().map(x => x.toFixed(2)).join(' ')
console.log(`attachments bench: ${runs} runs, ${os.cpus().length} CPUs, load ${load()}, build ${args.output}`)
const samples = []
try {
  for (let run = 0; run < runs + 1; run++) {
    const { context, page } = await newPage(browser, flume.url)
    await page.goto('/')
    await waitHydrated(page)
    const bytes = await page.evaluate(makePhoto, targetBytes)
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('What is in this photo?')
    const t = await page.evaluate(attachAndSend)
    await context.close()
    const sample = { photoBytes: bytes, uploaded: t.uploaded, downscale: t.uploading - t.paste, upload: t.done - t.uploading, toFirst: t.first - t.done, total: t.first - t.paste }
    // The first run warms the server and the browser up: not counted.
    if (run === 0) continue
    samples.push(sample)
    console.log(`  run ${run}: photo ${(bytes / 1e6).toFixed(2)} MB → ${sample.uploaded}; downscale ${round(sample.downscale)} ms, upload ${round(sample.upload)} ms, upload to first token ${round(sample.toFirst)} ms, total ${round(sample.total)} ms`)
  }
  const m = key => round(median(samples.map(s => s[key])))
  console.log(`median of ${samples.length}: downscale ${m('downscale')} ms + upload ${m('upload')} ms = ${m('downscale') + m('upload')} ms; upload to first token ${m('toFirst')} ms; paste to first token ${m('total')} ms`)
  console.log(`load after: ${load()}`)
}
finally {
  await browser.close()
  await flume.stop()
  await upstream.close()
}
