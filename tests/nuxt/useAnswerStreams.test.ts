import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import { STREAM_LOST, useAnswerStreams, type AnswerStreamEvents } from '~/composables/useAnswerStreams'
import { FakeEventSource, lastEventSource, stubEventSource } from './helpers/fake-stream'

/** useAnswerStreams inside a mounted component, with what it reports recorded in order. */
async function mountStreams() {
  const events: unknown[][] = []
  const on: AnswerStreamEvents = {
    delta: (...args) => events.push(['delta', ...args]),
    reasoning: (...args) => events.push(['reasoning', ...args]),
    usage: (...args) => events.push(['usage', ...args]),
    error: (...args) => events.push(['error', ...args]),
    end: (...args) => events.push(['end', ...args]),
  }
  let streams!: ReturnType<typeof useAnswerStreams>
  const wrapper = await mountSuspended(defineComponent({
    setup() {
      streams = useAnswerStreams(on)
      return () => h('div')
    },
  }))
  return { streams, events, wrapper }
}

beforeEach(() => {
  stubEventSource()
})

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('useAnswerStreams', () => {
  it('follows from a position with ?offset= and reports only text after it, whatever a frame repeats', async () => {
    const { streams, events } = await mountStreams()
    streams.follow('m1', '/s', { answer: 5, reasoning: 0 })
    const es = lastEventSource()
    expect(es.url).toBe('/s?offset=5')
    es.frame({ type: 'delta', text: 'llo wo' }, 8)
    es.frame({ type: 'delta', text: 'rld' }, 11)
    es.frame({ type: 'delta', text: 'ld' }, 11)
    expect(events).toEqual([['delta', 'm1', ' wo'], ['delta', 'm1', 'rld']])
  })

  it('reports reasoning and answer apart, each position from its own half of a pair id, whatever a frame repeats', async () => {
    const { streams, events } = await mountStreams()
    streams.follow('m1', '/s')
    const es = lastEventSource()
    es.frame({ type: 'reasoning', text: 'Hmm' }, '0,3')
    es.frame({ type: 'reasoning', text: ', so' }, '0,7')
    es.frame({ type: 'delta', text: 'Hi' }, '2,7')
    // After a reconnect the server may send some of either text again (an older Last-Event-ID).
    es.frame({ type: 'reasoning', text: 'm, so.' }, '2,8')
    es.frame({ type: 'delta', text: 'Hi there' }, '8,8')
    expect(events).toEqual([
      ['reasoning', 'm1', 'Hmm'],
      ['reasoning', 'm1', ', so'],
      ['delta', 'm1', 'Hi'],
      ['reasoning', 'm1', '.'],
      ['delta', 'm1', ' there'],
    ])
  })

  it('resumes from both offsets with ?offset=A,R, and from the answer alone while there is no reasoning', async () => {
    const { streams, events } = await mountStreams()
    streams.follow('m1', '/s1', { answer: 4, reasoning: 12 })
    const es = lastEventSource()
    expect(es.url).toBe('/s1?offset=4,12')
    es.frame({ type: 'reasoning', text: 'thinking.' }, '4,14')
    es.frame({ type: 'delta', text: 'Yes, it is.' }, '11,14')
    expect(events).toEqual([['reasoning', 'm1', 'g.'], ['delta', 'm1', ' it is.']])
    streams.follow('m2', '/s2', { answer: 4, reasoning: 0 })
    expect(lastEventSource().url).toBe('/s2?offset=4')
  })

  it('keeps the reasoning tokens a usage frame reports', async () => {
    const { streams, events } = await mountStreams()
    streams.follow('m1', '/s')
    const es = lastEventSource()
    es.frame({ type: 'usage', promptTokens: 120, completionTokens: 480, reasoningTokens: 300 }, '10,50')
    es.frame({ type: 'usage', promptTokens: 1, completionTokens: 2 }, '10,50')
    expect(events).toEqual([
      ['usage', 'm1', { promptTokens: 120, completionTokens: 480, reasoningTokens: 300 }],
      ['usage', 'm1', { promptTokens: 1, completionTokens: 2 }],
    ])
  })

  it('ignores a frame of a type it does not know, and ends with the failure an error frame gave', async () => {
    const { streams, events } = await mountStreams()
    streams.follow('m1', '/s')
    const es = lastEventSource()
    expect(es.url).toBe('/s')
    es.frame({ type: 'something-new', text: 'ignored' }, 0)
    es.frame({ type: 'error', code: 'upstream_error', message: 'It broke.' }, 0)
    es.frame('[DONE]', 0)
    const failure = { code: 'upstream_error', message: 'It broke.' }
    expect(events).toEqual([['error', 'm1', failure], ['end', 'm1', { status: 'error', error: failure }]])
    expect(es.closed).toBe(true)
    expect(streams.isFollowing('m1')).toBe(false)
  })

  it('says it is reconnecting while the browser reconnects, and ends as lost when it gives up', async () => {
    const { streams, events } = await mountStreams()
    streams.follow('m1', '/s')
    const es = lastEventSource()
    es.fail(FakeEventSource.CONNECTING)
    expect(streams.reconnecting.value).toBe(true)
    es.frame({ type: 'delta', text: 'Hi' }, 2)
    expect(streams.reconnecting.value).toBe(false)
    es.fail(FakeEventSource.CLOSED)
    expect(events.at(-1)).toEqual(['end', 'm1', { status: 'error', error: { code: STREAM_LOST, message: expect.any(String) } }])
    expect(streams.reconnecting.value).toBe(false)
  })

  it('opens one stream per answer and closes them all when its component goes', async () => {
    const { streams, wrapper } = await mountStreams()
    streams.follow('m1', '/s1')
    streams.follow('m1', '/s1')
    streams.follow('m2', '/s2')
    expect(FakeEventSource.instances.map(es => es.url)).toEqual(['/s1', '/s2'])
    wrapper.unmount()
    expect(FakeEventSource.instances.every(es => es.closed)).toBe(true)
    streams.follow('m3', '/s3')
    expect(FakeEventSource.instances).toHaveLength(2)
  })
})
