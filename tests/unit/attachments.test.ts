import { describe, expect, it } from 'vitest'
import { classify, cleanName } from '../../server/http/attachments'
import { modelTurns, withinBudget } from '../../server/generation/prompt'
import type { Attachment } from '../../shared/schemas'

const bytes = (...values: number[]) => new Uint8Array(values)

describe('what a file is', () => {
  it('recognises images by their signatures, whatever they are called', () => {
    expect(classify(bytes(0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0))).toEqual({ kind: 'image', mediaType: 'image/png' })
    expect(classify(bytes(0xFF, 0xD8, 0xFF, 0xDB))).toEqual({ kind: 'image', mediaType: 'image/jpeg' })
    expect(classify(new TextEncoder().encode('GIF89a...'))).toEqual({ kind: 'image', mediaType: 'image/gif' })
    expect(classify(new Uint8Array([...new TextEncoder().encode('RIFF'), 0, 0, 0, 0, ...new TextEncoder().encode('WEBPVP8 ')]))).toEqual({ kind: 'image', mediaType: 'image/webp' })
  })

  it('takes UTF-8 text of any kind as text, SVG and HTML included, and nothing binary', () => {
    for (const text of ['a,b\n1,2', '{"a":1}', '# Title', '<svg onload="x()"/>', '<!doctype html><script>1</script>', 'héllo 🙂', 'GIF87 not an image']) {
      expect(classify(new TextEncoder().encode(text)), text).toEqual({ kind: 'text', mediaType: 'text/plain' })
    }
    expect(classify(bytes(0x61, 0, 0x62))).toBeUndefined()
    expect(classify(bytes(0xC3, 0x28))).toBeUndefined()
    expect(classify(bytes(0x50, 0x4B, 0x03, 0x04, 0x14, 0, 0, 0))).toBeUndefined()
  })
})

describe('file names', () => {
  it('keeps one safe line without a path, and the extension of a long name', () => {
    expect(cleanName('../../etc/passwd', 'text')).toBe('_.._etc_passwd')
    expect(cleanName('a"b\r\nSet-Cookie: x.txt', 'text')).toBe('a_b_Set-Cookie_ x.txt')
    expect(cleanName(undefined, 'image')).toBe('image')
    expect(cleanName('  ', 'text')).toBe('file.txt')
    const long = cleanName(`${'x'.repeat(300)}.png`, 'image')
    expect(long).toHaveLength(200)
    expect(long.endsWith('.png')).toBe(true)
  })
})

const file = (id: string, kind: 'image' | 'text', size = 10, name = `${id}.txt`): Attachment =>
  ({ id, name, kind, mediaType: kind === 'image' ? 'image/png' : 'text/plain', size, url: `/api/attachments/${id}` })

describe('what the model is sent', () => {
  it('appends text files in tags and adds images as image_url parts, leaving other turns alone', async () => {
    const data = new Map([['t', Buffer.from('a,b\n1,2').toString('base64')], ['i', 'AAAA']])
    const turns = await modelTurns([
      { role: 'user', content: 'Look', attachments: [file('t', 'text', 7, 'd.csv'), file('i', 'image')] },
      { role: 'assistant', content: 'Seen' },
      { role: 'user', content: 'Only a file', attachments: [file('t', 'text', 7, 'x"y.md')] },
      { role: 'user', content: 'plain' },
    ], async ids => new Map(ids.map(id => [id, data.get(id)!])))
    expect(turns).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Look\n\n<file name="d.csv">\na,b\n1,2\n</file>' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: 'Seen' },
      { role: 'user', content: 'Only a file\n\n<file name="x_y.md">\na,b\n1,2\n</file>' },
      { role: 'user', content: 'plain' },
    ])
  })

  it('counts files in the history budget: text by size, images as a fixed amount', () => {
    const history = [
      { role: 'user' as const, content: 'old', attachments: [file('a', 'image')] },
      { role: 'assistant' as const, content: 'x'.repeat(10) },
      { role: 'user' as const, content: 'new', attachments: [file('b', 'text', 1000)] },
    ]
    expect(withinBudget(history, 1100)).toEqual([history[2]])
    expect(withinBudget(history, 5000)).toEqual(history)
  })
})
