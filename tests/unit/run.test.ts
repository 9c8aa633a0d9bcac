import { describe, expect, it } from 'vitest'
import { Run } from '../../server/generation/run'

describe('Run', () => {
  it('measures offsets in UTF-16 code units, like the contract ids and JavaScript string length', () => {
    const run = new Run('m', 'o')
    for (const piece of ['héllo ', '👋🏽', ' wörld', '\n```js\n']) run.append(piece)
    const text = 'héllo 👋🏽 wörld\n```js\n'
    expect(run.length).toBe(text.length)
    expect(run.text()).toBe(text)
    for (let offset = 0; offset <= text.length; offset++) expect(run.textFrom(offset)).toBe(text.slice(offset))
  })

  it('gives a new reader everything after its offset in one read, then only what is new', async () => {
    const run = new Run('m', 'o')
    run.append('abc')
    run.append('def')
    const reader = run.reader(2)
    expect(await reader.next()).toEqual({ text: 'cdef', offset: 6 })
    const pending = reader.next()
    run.append('g')
    run.append('hi')
    // Deltas that arrived before the reader woke up are merged into one read.
    expect(await pending).toEqual({ text: 'ghi', offset: 9 })
  })

  it('lets every reader see the same text, and the end only after all of it', async () => {
    const run = new Run('m', 'o')
    const readers = [run.reader(0), run.reader(0)]
    const seen = readers.map(async (reader) => {
      let text = ''
      for (;;) {
        const r = await reader.next()
        text += r.text
        if (r.final) return { text, final: r.final.status, offset: r.offset }
      }
    })
    for (const piece of ['one ', 'two ', 'three']) {
      run.append(piece)
      await new Promise(r => setTimeout(r, 1))
    }
    run.end({ status: 'done', usage: { promptTokens: 1, completionTokens: 3 } })
    expect(await Promise.all(seen)).toEqual([
      { text: 'one two three', final: 'done', offset: 13 },
      { text: 'one two three', final: 'done', offset: 13 },
    ])
  })

  it('ignores text after the end, and a closed reader stops waiting', async () => {
    const run = new Run('m', 'o')
    const reader = run.reader(0)
    const waiting = reader.next()
    reader.close()
    expect(await waiting).toEqual({ text: '', offset: 0 })
    run.end({ status: 'stopped' })
    run.append('late')
    expect(run.text()).toBe('')
    expect(await run.finished).toEqual({ status: 'stopped' })
  })

  it('stop() aborts the run\'s signal', () => {
    const run = new Run('m', 'o')
    run.stop()
    expect(run.controller.signal.aborted).toBe(true)
  })
})
