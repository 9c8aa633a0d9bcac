import { ATTACHMENT_LIMITS, attachmentUrl, formatBytes, type AttachmentKind } from '#shared/attachments'
import type { Attachment, ModelsResponse } from '#shared/schemas'
import { downscaleImage, isPreviewableImage } from '~/utils/downscale-image'

/** Where uploads go (docs/attachments.md); an upload is read back and deleted at attachmentUrl(id). */
export const ATTACHMENTS_PATH = '/api/attachments'

export type AttachmentState = 'preparing' | 'uploading' | 'done' | 'error'

/** A file in a composer or a question's editor: being prepared, uploading, uploaded (`attachment`) or refused (`error`). */
export interface PendingAttachment {
  /** Local key, stable while the file is shown. */
  key: string
  name: string
  /** Bytes: the file's own, then the uploaded ones (an image once scaled down). */
  size: number
  state: AttachmentState
  /** What the file is for its preview: the browser's guess first, the server's answer once uploaded. */
  kind: AttachmentKind
  /** An object URL (raster images, before the server's `url` is known) or the server's url. */
  preview?: string
  /** Why it was refused, in words (the server's message). */
  error?: string
  /** The server's answer. */
  attachment?: Attachment
  /** Already part of the edited question: taking it out deletes nothing (the edit does). */
  kept?: boolean
}

/** The files of a paste or a drop (none for plain text). */
export function filesIn(data: DataTransfer | null | undefined): File[] {
  if (!data) return []
  if (data.files?.length) return [...data.files]
  return [...(data.items ?? [])].flatMap(item => (item.kind === 'file' ? [item.getAsFile()].filter((f): f is File => !!f) : []))
}

/** Whether a drag carries files (its `types`; the files themselves are only readable on drop). */
export function dragHasFiles(event: DragEvent): boolean {
  return !!event.dataTransfer && [...event.dataTransfer.types].includes('Files')
}

export interface AttachmentBatch {
  /** The uploaded files, in the order shown. */
  attachments: Attachment[]
  /** The question was not sent: the files go back where they were. */
  restore: () => void
  /** The question was sent: the files belong to it now. */
  release: () => void
}

let counter = 0

/**
 * The files of one question being written (the composer) or edited (MessageEdit): each file is
 * uploaded as soon as it is added (images scaled down first, utils/downscale-image.ts), shown with
 * its state, and deleted on the server when taken out before it was sent. The server decides what a
 * file is and whether it is taken; the limits checked here (its own, from GET /api/models) are a
 * shortcut only.
 */
export function useAttachments(options: { initial?: readonly Attachment[], prepare?: (file: File) => Promise<File> } = {}) {
  const prepare = options.prepare ?? downscaleImage
  // The server's limits once GET /api/models has answered (useModels), its defaults until then.
  const { data: models } = useNuxtData<ModelsResponse>('flume:models')
  const limits = computed(() => models.value?.attachments ?? { ...ATTACHMENT_LIMITS, kinds: ['image', 'text'] as AttachmentKind[] })
  /** Whether the server takes files at all (FLUME_ATTACHMENT_TYPES=none: no). */
  const enabled = computed(() => limits.value.kinds.length > 0 && limits.value.count > 0)
  const items = ref<PendingAttachment[]>((options.initial ?? []).map(attachment => ({
    key: `a${++counter}`,
    name: attachment.name,
    size: attachment.size,
    state: 'done',
    kind: attachment.kind,
    preview: attachment.kind === 'image' ? attachment.url : undefined,
    attachment,
    kept: true,
  })))
  /** Uploads in flight, by key: their end. */
  const inFlight = new Map<string, Promise<void>>()
  const objectUrls = new Set<string>()
  /** Keys of files handed to a question being sent: never deleted from here. */
  const sending = new Set<string>()
  /** Images are decoded and scaled one at a time (a 12-megapixel bitmap is 48 MB). */
  let preparing: Promise<unknown> = Promise.resolve()
  /** Why files were not added (too many), in words; cleared by the next change. */
  const notice = ref<string | null>(null)

  const busy = computed(() => items.value.some(i => i.state === 'preparing' || i.state === 'uploading'))
  const failed = computed(() => items.value.some(i => i.state === 'error'))
  const attachments = computed(() => items.value.flatMap(i => (i.state === 'done' && i.attachment ? [i.attachment] : [])))
  const totalBytes = computed(() => attachments.value.reduce((sum, a) => sum + a.size, 0))
  /** A word on the files together, before the server says it (its own limit decides). */
  const overTotal = computed(() => totalBytes.value > limits.value.totalBytes
    ? `These files have ${formatBytes(totalBytes.value)} together; a message may have ${formatBytes(limits.value.totalBytes)}.`
    : null)

  const find = (key: string) => items.value.find(i => i.key === key)
  /** Changes the item in place (through the reactive array, so the tray shows it). */
  function update(key: string, fields: Partial<PendingAttachment>) {
    const item = find(key)
    if (item) Object.assign(item, fields)
  }

  function objectUrl(file: File): string | undefined {
    try {
      const url = URL.createObjectURL(file)
      objectUrls.add(url)
      return url
    }
    catch {
      return undefined
    }
  }

  function revoke(url: string | undefined) {
    if (url && objectUrls.delete(url)) URL.revokeObjectURL(url)
  }

  /** Adds files and starts their uploads; past the count limit, the rest are left out with a word why. */
  function add(files: Iterable<File>) {
    notice.value = null
    const list = [...files]
    if (!enabled.value) {
      if (list.length) notice.value = 'This server takes no attachments.'
      return
    }
    const room = Math.max(0, limits.value.count - items.value.length)
    if (list.length > room) {
      notice.value = `A message may have at most ${limits.value.count} attachments${room ? `: ${list.length - room} of these were not added` : ''}.`
    }
    for (const file of list.slice(0, room)) {
      const key = `a${++counter}`
      const preview = isPreviewableImage(file) ? objectUrl(file) : undefined
      items.value.push({ key, name: file.name || 'file', size: file.size, state: 'preparing', kind: isPreviewableImage(file) ? 'image' : 'text', preview })
      const done = upload(key, file)
      inFlight.set(key, done)
      void done.finally(() => inFlight.delete(key))
    }
  }

  async function upload(key: string, file: File) {
    try {
      const step = preparing.then(() => (isPreviewableImage(file) ? prepare(file) : file))
      preparing = step.catch(() => {})
      const body = await step
      // Taken out while it was being prepared: nothing was sent.
      if (!find(key)) return
      update(key, { size: body.size })
      if (body.size > limits.value.bytes) {
        update(key, { state: 'error', error: `A file may have at most ${formatBytes(limits.value.bytes)}.` })
        return
      }
      update(key, { state: 'uploading' })
      // Not aborted once sent: a file taken out meanwhile is deleted when its id is known, so that
      // nothing is left behind on the server.
      // The bytes alone (no multipart, no Content-Type to trust): the server reads what they are.
      const bytes = await body.arrayBuffer()
      const attachment = await $fetch<Attachment>(ATTACHMENTS_PATH, { method: 'POST', query: { name: body.name || file.name }, body: bytes })
      if (!find(key)) {
        void forget(attachment.id)
        return
      }
      const fromServer = attachment.kind === 'image' ? find(key)?.preview ?? attachment.url : undefined
      update(key, { state: 'done', attachment, name: attachment.name, size: attachment.size, kind: attachment.kind, preview: fromServer })
    }
    catch (err) {
      if (!find(key)) return
      update(key, { state: 'error', error: apiError(err, `${file.name || 'This file'} could not be uploaded.`).message })
    }
  }

  /** Deletes an upload that will not be sent; a failure leaves it to the server's daily clean-up. */
  async function forget(id: string) {
    try {
      await $fetch(attachmentUrl(id), { method: 'DELETE' })
    }
    catch { /* already gone, or the server cleans it up after a day */ }
  }

  /** Takes a file out: its unsent upload is deleted, now or once it ends (a kept one stays until the edit is sent). */
  async function remove(key: string) {
    const item = find(key)
    if (!item) return
    notice.value = null
    items.value = items.value.filter(i => i !== item)
    revoke(item.preview)
    if (item.attachment && !item.kept) await forget(item.attachment.id)
  }

  /** Resolves once no file is being prepared or uploaded (files added meanwhile are waited for too). */
  async function settle() {
    while (inFlight.size) await Promise.all(inFlight.values())
  }

  /** Send was asked for while files were still uploading: it goes once they are up (see ready). */
  const waiting = ref(false)
  /** Before a question is sent: waits for the uploads in flight, with `waiting` true meanwhile. */
  async function ready() {
    waiting.value = true
    try {
      await settle()
    }
    finally {
      waiting.value = false
    }
  }

  /** A paste: its files are attached; text pasted with them still goes into the field. */
  function paste(event: ClipboardEvent) {
    const found = filesIn(event.clipboardData)
    if (!found.length) return
    if (!event.clipboardData?.types.includes('text/plain')) event.preventDefault()
    add(found)
  }

  /**
   * The uploaded files for a question being sent. They leave the tray (the question shows them)
   * unless `keep` (an editor that stays open while its edit is sent), are never deleted from here
   * on, and come back with `restore` if the question could not be sent. Call after settle().
   */
  function take({ keep = false } = {}): AttachmentBatch {
    const taken = items.value.filter(i => i.state === 'done')
    taken.forEach(i => sending.add(i.key))
    if (!keep) items.value = items.value.filter(i => i.state !== 'done')
    notice.value = null
    return {
      attachments: taken.flatMap(i => (i.attachment ? [i.attachment] : [])),
      restore: () => {
        taken.forEach(i => sending.delete(i.key))
        if (!keep) items.value = [...taken, ...items.value]
      },
      release: () => {
        if (keep) items.value = items.value.filter(i => !taken.includes(i))
        taken.forEach(i => revoke(i.preview))
      },
    }
  }

  /** Empties the tray, deleting the unsent uploads (a cancelled edit, a page left with files in its composer). */
  async function discard() {
    const gone = items.value
    items.value = []
    notice.value = null
    gone.forEach(i => revoke(i.preview))
    await Promise.all(gone.flatMap(i => (i.attachment && !i.kept && !sending.has(i.key) ? [forget(i.attachment.id)] : [])))
  }

  // Going away (another chat, a closed editor) with files not sent: their uploads go too.
  tryOnScopeDispose(() => {
    void discard()
    for (const url of objectUrls) URL.revokeObjectURL(url)
    objectUrls.clear()
  })

  return { items, notice, busy, waiting, failed, attachments, totalBytes, overTotal, enabled, add, paste, remove, settle, ready, take, discard }
}

export type Attachments = ReturnType<typeof useAttachments>
