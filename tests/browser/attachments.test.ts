/**
 * Attachments in the real UI (docs/attachments.md): files pasted, dropped or picked appear in the
 * composer and upload at once; images are scaled down in the browser; the question shows its files
 * (a thumbnail opens larger); the model gets `image_url` parts; a refused file is said in words; an
 * uploaded SVG never runs as a page of Flume's origin.
 */
import type { JSHandle, Page, Response } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import type { Attachment } from '../../shared/schemas'
import {
  composer,
  lastAssistant,
  lastUser,
  sendButton,
  sendMessage,
  useBrowserEnv,
  visit,
  waitForAssistantStatus,
  waitForChatPage,
  watchCsp,
} from './support'

const env = useBrowserEnv()

interface ImageSpec { name: string, width: number, height: number, type: 'image/png' | 'image/jpeg', alpha?: boolean, noise?: boolean }

/** Runs in the page: a generated image as a File (a gradient, or noise; a transparent corner with `alpha`). */
async function makeImage(spec: ImageSpec): Promise<File> {
  const canvas = new OffscreenCanvas(spec.width, spec.height)
  const ctx = canvas.getContext('2d')!
  if (spec.noise) {
    const image = ctx.createImageData(spec.width, spec.height)
    for (let i = 0; i < image.data.length; i += 65536) crypto.getRandomValues(image.data.subarray(i, i + 65536))
    for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255
    ctx.putImageData(image, 0, 0)
  }
  else {
    const gradient = ctx.createLinearGradient(0, 0, spec.width, spec.height)
    gradient.addColorStop(0, '#2251d1')
    gradient.addColorStop(1, '#f5a623')
    ctx.fillStyle = gradient
    ctx.fillRect(0, 0, spec.width, spec.height)
  }
  if (spec.alpha) ctx.clearRect(0, 0, spec.width / 4, spec.height / 4)
  const blob = await canvas.convertToBlob({ type: spec.type, quality: 0.95 })
  return new File([blob], spec.name, { type: spec.type })
}

const imageIn = (page: Page, spec: ImageSpec) => page.evaluateHandle(makeImage, spec)

/** Pastes `file` into the composer as a clipboard holding only that file (a screenshot). */
async function paste(page: Page, file: JSHandle<File>) {
  await page.evaluate((file) => {
    const data = new DataTransfer()
    data.items.add(file)
    const box = document.querySelector('textarea[aria-label="Message"]')!
    box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
  }, file)
}

/** Drags `file` over the element matching `selector` and drops it there. */
async function drop(page: Page, selector: string, file: JSHandle<File>) {
  await page.evaluate(([selector, file]) => {
    const data = new DataTransfer()
    data.items.add(file)
    const target = document.querySelector(selector)!
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }))
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }))
  }, [selector, file] as const)
}

/** Picks files with the composer's (or `scope`'s) "Attach files" button, as the file chooser does. */
async function pick(page: Page, files: { name: string, mimeType: string, buffer: Buffer }[], scope = page.locator('form.composer')) {
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), scope.getByRole('button', { name: 'Attach files' }).click()])
  await chooser.setFiles(files)
}

const chips = (page: Page, scope = 'form.composer') => page.locator(`${scope} .chip`)

/** Waits until every chip in the composer is uploaded (or refused): `count` of them. */
async function settled(page: Page, count: number, scope = 'form.composer') {
  await expect.poll(() => chips(page, scope).evaluateAll(els => els.map(el => el.getAttribute('data-state'))), { timeout: 20_000 })
    .toEqual(Array.from({ length: count }, () => expect.stringMatching(/^(done|error)$/)))
}

/** The next upload's answer from the server. */
const nextUpload = (page: Page) => page.waitForResponse(r => new URL(r.url()).pathname === '/api/attachments' && r.request().method() === 'POST', { timeout: 20_000 })

type Part = { type: 'text', text: string } | { type: 'image_url', image_url: { url: string } }
/** The last user turn the model was sent. */
const lastTurn = () => env.fake.completions.at(-1)!.body.messages.at(-1) as { role: string, content: string | Part[] }

/** Runs in the page: the size and type of the image at `url`, read back as the owner. */
async function decoded(page: Page, url: string) {
  return await page.evaluate(async (url) => {
    const res = await fetch(url)
    const bitmap = await createImageBitmap(await res.blob())
    return { status: res.status, type: res.headers.get('content-type'), width: bitmap.width, height: bitmap.height }
  }, url)
}

describe('attaching files', () => {
  it('a pasted screenshot shows in the composer, goes with the question as an image, and opens larger', async () => {
    const { page } = env.tp
    const csp = await watchCsp(page)
    await visit(page, '/')
    const shot = await imageIn(page, { name: 'screenshot.png', width: 320, height: 200, type: 'image/png' })
    const uploaded = nextUpload(page)
    await paste(page, shot)
    await settled(page, 1)
    const attachment = await (await uploaded).json() as Attachment
    // Small enough: uploaded as it was.
    expect(attachment).toMatchObject({ name: 'screenshot.png', kind: 'image', mediaType: 'image/png' })
    const chip = chips(page).first()
    expect(await chip.getAttribute('data-kind')).toBe('image')
    expect(await chip.locator('img').getAttribute('src')).toMatch(/^blob:/)
    await expect.poll(() => chip.locator('img').evaluate(img => (img as HTMLImageElement).naturalWidth)).toBe(320)
    expect(await chip.innerText()).toContain('screenshot.png')

    env.fake.enqueue({ chunks: ['A ', 'gradient.'] })
    await sendMessage(page, 'What is this?')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    expect(env.fake.completions.length).toBe(env.base + 1)
    const turn = lastTurn()
    expect(turn.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: expect.stringMatching(/^data:image\/png;base64,iVBOR/) } },
    ])

    // The question shows its image, loaded from the server with the person's cookie.
    const thumb = lastUser(page).getByRole('button', { name: 'Open screenshot.png' })
    await expect.poll(() => thumb.locator('img').evaluate(img => (img as HTMLImageElement).naturalWidth)).toBe(320)
    expect(await thumb.locator('img').getAttribute('src')).toBe(attachment.url)
    expect(await lastUser(page).innerText()).toContain('What is this?')

    await thumb.click()
    const lightbox = page.getByRole('dialog', { name: 'screenshot.png' })
    await lightbox.waitFor()
    const large = await lightbox.getByRole('img', { name: 'screenshot.png' }).boundingBox()
    expect(large!.width).toBeGreaterThan((await thumb.boundingBox())!.width)
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Close')
    await page.keyboard.press('Escape')
    await lightbox.waitFor({ state: 'hidden' })
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Open screenshot.png')
    // Escape in the lightbox stopped nothing else, and the CSP allowed the previews.
    expect(await lastAssistant(page).getAttribute('data-status')).toBe('done')
    expect(csp).toEqual([])
    expect(env.tp.problems).toEqual([])
  })

  it('files dropped on the chat and picked with the button make a question alone; text files go as text', async () => {
    const { page } = env.tp
    await visit(page, '/')
    env.fake.enqueue({ chunks: ['Hello.'] })
    await sendMessage(page, 'Hi')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')

    const photo = await imageIn(page, { name: 'dropped.png', width: 64, height: 48, type: 'image/png' })
    await drop(page, 'article[data-role="assistant"]', photo)
    await pick(page, [{ name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('city,temp\nOslo,3\n') }])
    await settled(page, 2)
    expect(await chips(page).evaluateAll(els => els.map(el => [el.getAttribute('data-kind'), el.querySelector('.chip-name')?.textContent]))).toEqual([
      ['image', 'dropped.png'], ['text', 'data.csv'],
    ])
    expect(await composer(page).inputValue()).toBe('')
    env.fake.enqueue({ chunks: ['Oslo is cold.'] })
    await sendButton(page).click()
    await expect.poll(() => page.locator('article[data-role="assistant"]').count()).toBe(2)
    await waitForAssistantStatus(page, 'done')
    expect(lastTurn().content).toEqual([
      { type: 'text', text: expect.stringContaining('<file name="data.csv">\ncity,temp\nOslo,3\n') },
      { type: 'image_url', image_url: { url: expect.stringMatching(/^data:image\/png;base64,/) } },
    ])
    // The tray is empty; the question shows the image and a link that downloads the text file.
    expect(await chips(page).count()).toBe(0)
    const file = lastUser(page).getByRole('link', { name: /data\.csv/ })
    expect(await file.getAttribute('download')).toBe('data.csv')
    expect(await file.getAttribute('href')).toMatch(/^\/api\/attachments\//)
    expect(await lastUser(page).getByRole('button', { name: 'Open dropped.png' }).count()).toBe(1)
    expect(env.tp.problems).toEqual([])
  })

  it('scales a large photo down to 2048 px as JPEG, and a large transparent image as PNG, before uploading', async () => {
    const { page } = env.tp
    await visit(page, '/')
    const photo = await imageIn(page, { name: 'photo.png', width: 4000, height: 3000, type: 'image/png' })
    const first = nextUpload(page)
    await paste(page, photo)
    const jpeg = await (await first).json() as Attachment
    expect(jpeg).toMatchObject({ name: 'photo.jpg', kind: 'image', mediaType: 'image/jpeg' })
    expect(await decoded(page, jpeg.url)).toEqual({ status: 200, type: 'image/jpeg', width: 2048, height: 1536 })

    const logo = await imageIn(page, { name: 'logo.png', width: 3000, height: 1500, type: 'image/png', alpha: true })
    const second = nextUpload(page)
    await paste(page, logo)
    const png = await (await second).json() as Attachment
    expect(png).toMatchObject({ name: 'logo.png', kind: 'image', mediaType: 'image/png' })
    expect(await decoded(page, png.url)).toEqual({ status: 200, type: 'image/png', width: 2048, height: 1024 })
    await settled(page, 2)

    env.fake.enqueue({ chunks: ['Two images.'] })
    await sendMessage(page, 'Compare')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')
    const parts = lastTurn().content as Part[]
    expect(parts.map(p => (p.type === 'image_url' ? p.image_url.url.slice(0, 16) : p.text))).toEqual(['Compare', 'data:image/jpeg;', 'data:image/png;b'])
  })

  it('a refused file is said in words, blocks Send until it is taken out; taking out an upload deletes it', async () => {
    const { page } = env.tp
    await visit(page, '/')
    const zip = Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(64), Buffer.from([0xFF, 0xFE, 0x00, 0x01])])
    await pick(page, [
      { name: 'archive.zip', mimeType: 'application/zip', buffer: zip },
      { name: 'notes.md', mimeType: 'text/markdown', buffer: Buffer.from('# Notes\n') },
    ])
    await settled(page, 2)
    const refused = chips(page).filter({ hasText: 'archive.zip' })
    expect(await refused.getAttribute('data-state')).toBe('error')
    expect(await refused.getByRole('alert').innerText()).toBe('This file cannot be attached: Flume takes images (PNG, JPEG, GIF, WebP) and text files (UTF-8).')
    await composer(page).fill('Summarise')
    expect(await sendButton(page).isDisabled()).toBe(true)
    await refused.getByRole('button', { name: 'Remove archive.zip' }).click()
    expect(await sendButton(page).isDisabled()).toBe(false)

    // Taken out before it was sent: the upload is deleted on the server.
    const notes = chips(page).filter({ hasText: 'notes.md' })
    const deleted = page.waitForResponse(r => r.request().method() === 'DELETE' && new URL(r.url()).pathname.startsWith('/api/attachments/'))
    await notes.getByRole('button', { name: 'Remove notes.md' }).click()
    const gone = await deleted
    expect(gone.status()).toBe(204)
    expect((await page.request.get(new URL(gone.url()).pathname)).status()).toBe(404)
    expect(await chips(page).count()).toBe(0)
  })

  it('an uploaded SVG with scripts never runs as a page of Flume\'s origin', async () => {
    const { page } = env.tp
    await visit(page, '/')
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned=1;document.title=\'pwned\';alert(1)">'
      + '<script>window.pwned=2;document.title="pwned";alert(2)</script><rect width="10" height="10"/></svg>'
    const uploaded = nextUpload(page)
    await pick(page, [{ name: 'evil.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(svg) }])
    const attachment = await (await uploaded).json() as Attachment
    // The server reads it as text; the composer shows it as a text file, no <img> of it.
    expect(attachment).toMatchObject({ kind: 'text', mediaType: 'text/plain' })
    await settled(page, 1)
    expect(await chips(page).first().getAttribute('data-kind')).toBe('text')
    expect(await chips(page).first().locator('img').count()).toBe(0)

    const res = await page.request.get(attachment.url)
    expect(res.headers()['content-type']).toBe('text/plain; charset=utf-8')
    expect(res.headers()['x-content-type-options']).toBe('nosniff')
    expect(res.headers()['content-security-policy']).toContain('sandbox')

    // Opened directly: a download (or plain text), never a document that runs.
    const opened: Response | Error | null = await page.goto(attachment.url).catch((err: Error) => err)
    if (!(opened instanceof Error)) expect(await page.evaluate(() => (window as { pwned?: unknown }).pwned)).toBeUndefined()

    // Framed and embedded by a page of the same origin (one without Flume's CSP).
    const origin = new URL(env.flume.url).origin
    await page.route(`${origin}/__probe`, route => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><title>probe</title><script>window.probeRan = true</script><iframe src="${attachment.url}"></iframe><img src="${attachment.url}"><object data="${attachment.url}"></object>`,
    }))
    await page.goto('/__probe')
    await page.waitForTimeout(500)
    expect(await page.title()).toBe('probe')
    // Scripts do run in the probe page itself: what did not run below was stopped by the server's answer.
    expect(await page.evaluate(() => (window as { probeRan?: boolean }).probeRan)).toBe(true)
    for (const frame of page.frames()) {
      const pwned = await frame.evaluate(() => (window as { pwned?: unknown }).pwned).catch(() => undefined)
      expect(pwned).toBeUndefined()
    }
    expect(env.tp.dialogs).toEqual([])
  })

  it('editing a question keeps, removes and adds files; the model gets the new list', async () => {
    const { page } = env.tp
    await visit(page, '/')
    await pick(page, [
      { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('alpha\n') },
      { name: 'b.txt', mimeType: 'text/plain', buffer: Buffer.from('beta\n') },
    ])
    await settled(page, 2)
    env.fake.enqueue({ chunks: ['Two files.'] })
    await sendMessage(page, 'Read these')
    const chatId = await waitForChatPage(page)
    await waitForAssistantStatus(page, 'done')

    await lastUser(page).hover()
    await lastUser(page).getByRole('button', { name: 'Edit message' }).click()
    const editor = page.locator('form.message-edit')
    expect(await chips(page, 'form.message-edit').allInnerTexts()).toEqual([expect.stringContaining('a.txt'), expect.stringContaining('b.txt')])
    await editor.getByRole('button', { name: 'Remove a.txt' }).click()
    await pick(page, [{ name: 'c.txt', mimeType: 'text/plain', buffer: Buffer.from('gamma\n') }], editor)
    await settled(page, 2, 'form.message-edit')
    env.fake.enqueue({ chunks: ['Better.'] })
    await editor.getByRole('button', { name: 'Send edited' }).click()
    await expect.poll(() => env.fake.completions.length).toBe(env.base + 2)
    await waitForAssistantStatus(page, 'done')
    const text = lastTurn().content as string
    expect(text).toContain('<file name="b.txt">')
    expect(text).toContain('<file name="c.txt">')
    expect(text).not.toContain('a.txt')
    const stored = await page.request.get(`/api/chats/${chatId}`).then(r => r.json()) as { messages: { attachments?: Attachment[] }[] }
    expect(stored.messages[0]!.attachments?.map(a => a.name)).toEqual(['b.txt', 'c.txt'])
    expect(await lastUser(page).getByRole('link').allInnerTexts()).toEqual([expect.stringContaining('b.txt'), expect.stringContaining('c.txt')])
  })

  it('a model that cannot see images: the answer says so in words', async () => {
    const { page } = env.tp
    await visit(page, '/')
    const shot = await imageIn(page, { name: 'eyes.png', width: 20, height: 20, type: 'image/png' })
    await paste(page, shot)
    await settled(page, 1)
    env.fake.enqueue({ status: 400, errorMessage: 'Invalid content type. image_url is only supported by certain models.' })
    await sendMessage(page, 'Describe it')
    await waitForChatPage(page)
    await waitForAssistantStatus(page, 'error')
    const alert = lastAssistant(page).getByRole('alert')
    expect(await alert.innerText()).toContain('This model cannot look at images. Pick a model that can')
  })
})
