import { afterEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'
import { enableAutoUnmount } from '@vue/test-utils'
import { mountSuspended, registerEndpoint } from '@nuxt/test-utils/runtime'
import { getQuery, readRawBody } from 'h3'
import { ATTACHMENT_LIMITS, attachmentUrl, type Attachment, type ModelsResponse } from '#shared/schemas'
import { useAttachments } from '~/composables/useAttachments'
import ChatComposer from '~/components/ChatComposer.vue'
import MessageEdit from '~/components/message/MessageEdit.vue'
import { errorReply, uid } from './helpers/data'

enableAutoUnmount(afterEach)

/** A promise the test resolves when it wants (an upload held on the server). */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

interface Upload { name: string, bytes: string }

/**
 * POST /api/attachments as the server answers it, and DELETE of each upload: `reply` decides per
 * upload (undefined: accepted as the kind `kindOf` says). Records what was uploaded and deleted.
 */
function serveUploads(options: { kindOf?: (upload: Upload) => 'image' | 'text', hold?: Promise<void>, reply?: (upload: Upload) => { status: number, code: string, message: string } | undefined } = {}) {
  const uploads: Upload[] = []
  const deleted: string[] = []
  registerEndpoint('/api/attachments', {
    method: 'POST',
    handler: async (event) => {
      const upload = { name: String(getQuery(event).name), bytes: (await readRawBody(event)) ?? '' }
      uploads.push(upload)
      await options.hold
      const refusal = options.reply?.(upload)
      if (refusal) return errorReply(event, refusal.status, refusal.code, refusal.message)
      const id = uid('att')
      const kind = options.kindOf?.(upload) ?? 'text'
      registerEndpoint(attachmentUrl(id), {
        method: 'DELETE',
        handler: () => {
          deleted.push(id)
          return null
        },
      })
      const attachment: Attachment = { id, name: upload.name, mediaType: kind === 'image' ? 'image/png' : 'text/plain', kind, size: upload.bytes.length, url: attachmentUrl(id) }
      return attachment
    },
  })
  return { uploads, deleted }
}

/** useAttachments in its own scope (stopping it is leaving the page). */
function attachments(options: Parameters<typeof useAttachments>[0] = {}) {
  const scope = effectScope()
  const files = scope.run(() => useAttachments(options))!
  return { files, stop: () => scope.stop() }
}

const textFile = (name: string, text = 'a,b\n1,2\n') => new File([text], name, { type: 'text/csv' })
const pngFile = (name = 'shot.png') => new File([new Uint8Array([0x89, 0x50, 0x4E, 0x47, 1, 2, 3])], name, { type: 'image/png' })

function sent(id: string, name: string, kind: 'image' | 'text' = 'text'): Attachment {
  return { id, name, kind, mediaType: kind === 'image' ? 'image/png' : 'text/plain', size: 10, url: attachmentUrl(id) }
}

describe('useAttachments', () => {
  it('uploads a file as soon as it is added, shows it uploading, then what the server says it is', async () => {
    const held = gate()
    const server = serveUploads({ hold: held.opened, kindOf: () => 'text' })
    const { files } = attachments()
    files.add([textFile('data.csv'), pngFile('not-really.png')])
    expect(files.items.value.map(i => [i.name, i.kind])).toEqual([['data.csv', 'text'], ['not-really.png', 'image']])
    await vi.waitFor(() => expect(files.items.value.map(i => i.state)).toEqual(['uploading', 'uploading']))
    expect(files.busy.value).toBe(true)
    expect(files.attachments.value).toEqual([])
    held.open()
    await files.settle()
    expect(files.busy.value).toBe(false)
    expect(server.uploads.map(u => u.name)).toEqual(['data.csv', 'not-really.png'])
    expect(server.uploads[0]!.bytes).toBe('a,b\n1,2\n')
    // The server read the "PNG" as text: it is shown as a text file.
    expect(files.items.value.map(i => [i.state, i.kind])).toEqual([['done', 'text'], ['done', 'text']])
    expect(files.attachments.value.map(a => a.name)).toEqual(['data.csv', 'not-really.png'])
  })

  it('scales images before uploading them, and uploads the scaled file', async () => {
    const server = serveUploads({ kindOf: () => 'image' })
    const prepare = vi.fn(async () => new File(['small'], 'photo.jpg', { type: 'image/jpeg' }))
    const { files } = attachments({ prepare })
    files.add([new File([new Uint8Array(5000)], 'photo.png', { type: 'image/png' }), textFile('notes.md')])
    await vi.waitFor(() => expect(files.items.value[0]!.state).not.toBe('preparing'))
    await files.settle()
    // Text files go up as they are.
    expect(prepare).toHaveBeenCalledTimes(1)
    expect(server.uploads.map(u => [u.name, u.bytes])).toEqual([['photo.jpg', 'small'], ['notes.md', 'a,b\n1,2\n']])
    expect(files.items.value[0]!).toMatchObject({ name: 'photo.jpg', size: 5, state: 'done', kind: 'image' })
  })

  it('shows the server\'s refusal in words, and such a file is not sent', async () => {
    serveUploads({
      reply: ({ name }) => name.endsWith('.zip')
        ? { status: 415, code: 'unsupported_attachment', message: 'This file cannot be attached: Flume takes images (PNG, JPEG, GIF, WebP) and text files (UTF-8).' }
        : name.startsWith('huge')
          ? { status: 413, code: 'attachment_too_large', message: 'A file may have at most 8 MB.' }
          : undefined,
    })
    const { files } = attachments()
    files.add([new File([new Uint8Array([0x50, 0x4B, 3, 4])], 'archive.zip'), textFile('huge.log'), textFile('ok.txt')])
    await files.settle()
    expect(files.items.value.map(i => [i.name, i.state, i.error])).toEqual([
      ['archive.zip', 'error', 'This file cannot be attached: Flume takes images (PNG, JPEG, GIF, WebP) and text files (UTF-8).'],
      ['huge.log', 'error', 'A file may have at most 8 MB.'],
      ['ok.txt', 'done', undefined],
    ])
    expect(files.failed.value).toBe(true)
    expect(files.attachments.value.map(a => a.name)).toEqual(['ok.txt'])
  })

  it('takes out a file: its unsent upload is deleted on the server, a kept one of an edited question is not', async () => {
    const server = serveUploads()
    const { files } = attachments({ initial: [sent('kept-1', 'old.csv')] })
    files.add([textFile('new.csv')])
    await files.settle()
    const [kept, added] = files.items.value
    await files.remove(added!.key)
    expect(server.deleted).toEqual([added!.attachment!.id])
    await files.remove(kept!.key)
    expect(server.deleted).toHaveLength(1)
    expect(files.items.value).toEqual([])
  })

  it('takes out a file still uploading: once its upload ends, it is deleted on the server', async () => {
    const held = gate()
    const server = serveUploads({ hold: held.opened })
    const { files } = attachments()
    files.add([textFile('slow.txt')])
    await vi.waitFor(() => expect(files.items.value[0]!.state).toBe('uploading'))
    await files.remove(files.items.value[0]!.key)
    expect(files.items.value).toEqual([])
    expect(server.deleted).toEqual([])
    held.open()
    await files.settle()
    await vi.waitFor(() => expect(server.deleted).toHaveLength(1))
  })

  it('adds no more files than a message may have, and says so', async () => {
    serveUploads()
    const { files } = attachments()
    files.add(Array.from({ length: ATTACHMENT_LIMITS.count + 2 }, (_, i) => textFile(`f${i}.txt`)))
    expect(files.items.value).toHaveLength(ATTACHMENT_LIMITS.count)
    expect(files.notice.value).toBe(`A message may have at most ${ATTACHMENT_LIMITS.count} attachments: 2 of these were not added.`)
    await files.settle()
  })

  it('refuses a file over the size limit before uploading it', async () => {
    const server = serveUploads()
    const { files } = attachments()
    files.add([new File([new Uint8Array(ATTACHMENT_LIMITS.bytes + 1)], 'big.txt', { type: 'text/plain' })])
    await files.settle()
    expect(files.items.value[0]).toMatchObject({ state: 'error', error: 'A file may have at most 8 MB.' })
    expect(server.uploads).toEqual([])
  })

  it('holds the server\'s own limits once GET /api/models gave them, and takes nothing when attachments are off', async () => {
    const server = serveUploads()
    const models = useNuxtData<ModelsResponse>('flume:models').data
    try {
      models.value = { models: [], default: 'm', attachments: { count: 2, bytes: 10, totalBytes: 100, kinds: ['text'] } }
      const { files } = attachments()
      expect(files.enabled.value).toBe(true)
      files.add([new File(['x'.repeat(11)], 'eleven.txt', { type: 'text/plain' }), textFile('b.txt'), textFile('c.txt')])
      expect(files.notice.value).toBe('A message may have at most 2 attachments: 1 of these were not added.')
      await files.settle()
      expect(files.items.value[0]).toMatchObject({ name: 'eleven.txt', state: 'error', error: 'A file may have at most 1 KB.' })
      models.value = { ...models.value, attachments: { count: 8, bytes: 10, totalBytes: 100, kinds: [] } }
      expect(files.enabled.value).toBe(false)
      const before = server.uploads.length
      files.add([textFile('d.txt')])
      expect(files.notice.value).toBe('This server takes no attachments.')
      expect(server.uploads).toHaveLength(before)
    }
    finally {
      models.value = undefined
    }
  })

  it('a question being sent takes its files; they come back if it could not be sent; leaving deletes only unsent ones', async () => {
    const server = serveUploads()
    const { files, stop } = attachments()
    files.add([textFile('a.txt'), textFile('b.txt')])
    await files.settle()
    const ids = files.attachments.value.map(a => a.id)
    const batch = files.take()
    expect(batch.attachments.map(a => a.id)).toEqual(ids)
    expect(files.items.value).toEqual([])
    batch.restore()
    expect(files.attachments.value.map(a => a.id)).toEqual(ids)
    // Sent: they are the question's now. Leaving the page deletes none of them.
    files.take().release()
    files.add([textFile('c.txt')])
    await files.settle()
    const unsent = files.attachments.value[0]!.id
    stop()
    await vi.waitFor(() => expect(server.deleted).toEqual([unsent]))
  })
})

describe('ChatComposer with files', () => {
  async function mountWithFiles(files: ReturnType<typeof useAttachments>, modelValue = '') {
    const wrapper = await mountSuspended(ChatComposer, {
      attachTo: document.body,
      props: { modelValue, 'onUpdate:modelValue': (v: string) => wrapper.setProps({ modelValue: v }), files },
    })
    return {
      wrapper,
      textarea: () => wrapper.get('textarea[aria-label="Message"]'),
      send: () => wrapper.findAll('button').find(b => b.text() === 'Send')!,
    }
  }

  it('Send waits for the uploads in flight, then sends', async () => {
    const held = gate()
    serveUploads({ hold: held.opened })
    const { files } = attachments()
    const { wrapper, textarea } = await mountWithFiles(files)
    files.add([textFile('data.csv')])
    await textarea().setValue('What is in it?')
    await vi.waitFor(() => expect(wrapper.text()).toContain('Uploading…'))
    await textarea().trigger('keydown', { key: 'Enter' })
    await vi.waitFor(() => expect(wrapper.text()).toContain('Sending once the files are uploaded…'))
    expect(wrapper.emitted('send')).toBeUndefined()
    held.open()
    await vi.waitFor(() => expect(wrapper.emitted('send')).toEqual([['What is in it?']]))
    expect(files.attachments.value.map(a => a.name)).toEqual(['data.csv'])
  })

  it('sends files alone (no words), but not while a refused file is there', async () => {
    serveUploads({ reply: ({ name }) => (name === 'bad.bin' ? { status: 415, code: 'unsupported_attachment', message: 'This file cannot be attached.' } : undefined) })
    const { files } = attachments()
    const { wrapper, send } = await mountWithFiles(files)
    expect(send().attributes('disabled')).toBeDefined()
    files.add([textFile('data.csv'), new File([new Uint8Array([0])], 'bad.bin')])
    await files.settle()
    await vi.waitFor(() => expect(wrapper.text()).toContain('This file cannot be attached.'))
    expect(wrapper.find('[role="alert"]').text()).toBe('This file cannot be attached.')
    expect(send().attributes('disabled')).toBeDefined()
    expect(wrapper.text()).toContain('Remove the files that could not be attached')
    await wrapper.get('button[aria-label="Remove bad.bin"]').trigger('click')
    await vi.waitFor(() => expect(send().attributes('disabled')).toBeUndefined())
    await send().trigger('click')
    await vi.waitFor(() => expect(wrapper.emitted('send')).toEqual([['']]))
  })

  it('attaches pasted files, and lets pasted text into the field', async () => {
    serveUploads()
    const { files } = attachments()
    const { textarea } = await mountWithFiles(files)
    const file = textFile('pasted.txt')
    const event = new Event('paste', { bubbles: true, cancelable: true }) as Event & { clipboardData: unknown }
    event.clipboardData = { files: [file], items: [], types: ['Files'] }
    textarea().element.dispatchEvent(event)
    expect(event.defaultPrevented).toBe(true)
    expect(files.items.value.map(i => i.name)).toEqual(['pasted.txt'])
    await files.settle()
    const text = new Event('paste', { bubbles: true, cancelable: true }) as Event & { clipboardData: unknown }
    text.clipboardData = { files: [], items: [], types: ['text/plain'] }
    textarea().element.dispatchEvent(text)
    expect(text.defaultPrevented).toBe(false)
    expect(files.items.value).toHaveLength(1)
  })
})

describe('MessageEdit with files', () => {
  it('shows the question\'s files; taking one out and adding one sends the new list', async () => {
    serveUploads()
    const wrapper = await mountSuspended(MessageEdit, {
      props: { content: 'Compare these', attachments: [sent('k1', 'one.csv'), sent('k2', 'two.png', 'image')], canEdit: true },
    })
    expect(wrapper.findAll('.chip-name').map(n => n.text())).toEqual(['one.csv', 'two.png'])
    await wrapper.get('button[aria-label="Remove one.csv"]').trigger('click')
    const input = wrapper.get('input[type="file"]')
    Object.defineProperty(input.element, 'files', { value: [textFile('three.csv')], configurable: true })
    await input.trigger('change')
    await vi.waitFor(() => expect(wrapper.findAll('.chip').map(c => c.attributes('data-state'))).toEqual(['done', 'done']))
    await wrapper.get('form').trigger('submit')
    await vi.waitFor(() => expect(wrapper.emitted('send')).toHaveLength(1))
    const [content, list] = wrapper.emitted('send')![0] as [string, Attachment[]]
    expect(content).toBe('Compare these')
    expect(list.map(a => a.name)).toEqual(['two.png', 'three.csv'])
  })

  it('unchanged files are not sent again (the server keeps them); cancelling deletes the new uploads', async () => {
    const server = serveUploads()
    const wrapper = await mountSuspended(MessageEdit, {
      props: { content: 'Old words', attachments: [sent('k3', 'one.csv')], canEdit: true },
    })
    await wrapper.get('textarea').setValue('New words')
    await wrapper.get('form').trigger('submit')
    await vi.waitFor(() => expect(wrapper.emitted('send')).toEqual([['New words', undefined]]))

    const other = await mountSuspended(MessageEdit, { props: { content: 'Words', attachments: [sent('k4', 'one.csv')], canEdit: true } })
    const input = other.get('input[type="file"]')
    Object.defineProperty(input.element, 'files', { value: [textFile('extra.csv')], configurable: true })
    await input.trigger('change')
    await vi.waitFor(() => expect(other.findAll('.chip[data-state="done"]')).toHaveLength(2))
    const added = server.uploads.length
    expect(added).toBeGreaterThan(0)
    await other.findAll('button').find(b => b.text() === 'Cancel')!.trigger('click')
    expect(other.emitted('cancel')).toHaveLength(1)
    await vi.waitFor(() => expect(server.deleted).toHaveLength(1))
  })

  it('Escape from any of its controls (a file\'s remove button too) cancels the edit', async () => {
    serveUploads()
    const wrapper = await mountSuspended(MessageEdit, { props: { content: 'Words', attachments: [sent('k5', 'one.csv')], canEdit: true } })
    await wrapper.get('button[aria-label="Remove one.csv"]').trigger('keydown', { key: 'Escape' })
    expect(wrapper.emitted('cancel')).toHaveLength(1)
  })
})
