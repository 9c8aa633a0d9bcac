import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import type { Message } from '#shared/schemas'
import ChatMessage from '~/components/ChatMessage.vue'
import MessageContent from '~/components/message/MessageContent.vue'
import { message, uid } from './helpers/data'

const chatId = uid('chat')
const NOW = Date.parse('2026-11-28T12:00:00.000Z')

/** An answer created `agoMs` before now, as the server dated it. */
function answer(agoMs: number, fields: Partial<Message> = {}): Message {
  return message(chatId, { role: 'assistant', createdAt: new Date(NOW - agoMs).toISOString(), ...fields })
}

async function mountContent(msg: Message) {
  return await mountSuspended(MessageContent, { props: { message: msg } })
}

type Wrapper = Awaited<ReturnType<typeof mountContent>>
const toggle = (wrapper: Wrapper) => wrapper.get('.message-reasoning button')
/** The line as it reads (the chevron beside it is aria-hidden). */
const line = (wrapper: Wrapper) => wrapper.get('.message-reasoning-label').text()
const reasoningShown = (wrapper: Wrapper) => wrapper.find('.message-reasoning [role="region"]')

async function tick(ms: number) {
  vi.advanceTimersByTime(ms)
  await nextTick()
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
  vi.setSystemTime(NOW)
})

afterEach(() => {
  vi.useRealTimers()
})

describe('MessageReasoning', () => {
  it('while the model thinks, shows one folded "Thinking… N s" line counting from the answer\'s creation, instead of the typing dots', async () => {
    // 42 s: a page loaded long after the answer began says how long it has really been thinking.
    const wrapper = await mountContent(answer(42_000, { status: 'streaming', reasoning: 'The person asks **why**.' }))
    expect(line(wrapper)).toBe('Thinking… 42 s')
    expect(toggle(wrapper).attributes('aria-expanded')).toBe('false')
    expect(reasoningShown(wrapper).exists()).toBe(false)
    expect(wrapper.text()).not.toContain('The person asks')
    expect(wrapper.find('.message-typing').exists()).toBe(false)
    expect(wrapper.findAll('[role="status"]').map(s => s.text())).toEqual(['Thinking…'])

    await tick(1000)
    expect(line(wrapper)).toBe('Thinking… 43 s')
    await tick(3000)
    expect(line(wrapper)).toBe('Thinking… 46 s')
    // The seconds are not in the live region: a screen reader is not told each one.
    expect(wrapper.get('[role="status"]').text()).toBe('Thinking…')
  })

  it('opens to show the reasoning as markdown while it streams, outside any live region', async () => {
    const thinking = answer(1000, { status: 'streaming', reasoning: 'First, **bold**' })
    const wrapper = await mountContent(thinking)
    await toggle(wrapper).trigger('click')
    expect(toggle(wrapper).attributes('aria-expanded')).toBe('true')
    expect(toggle(wrapper).attributes('aria-controls')).toBe(reasoningShown(wrapper).attributes('id'))
    expect(reasoningShown(wrapper).get('strong').text()).toBe('bold')
    await wrapper.setProps({ message: { ...thinking, reasoning: 'First, **bold**, then more' } })
    expect(reasoningShown(wrapper).text()).toContain('then more')
    expect(reasoningShown(wrapper).element.closest('[aria-live], [role="status"]')).toBeNull()
    await toggle(wrapper).trigger('click')
    expect(reasoningShown(wrapper).exists()).toBe(false)
  })

  it('when the answer text starts, stays folded and says how long it thought (measured here until the server says)', async () => {
    const thinking = answer(2000, { status: 'streaming', reasoning: 'Hmm' })
    const wrapper = await mountContent(thinking)
    await tick(3000)
    expect(line(wrapper)).toBe('Thinking… 5 s')
    await wrapper.setProps({ message: { ...thinking, content: 'The answer' } })
    expect(line(wrapper)).toBe('Thought for 5 s')
    expect(toggle(wrapper).attributes('aria-expanded')).toBe('false')
    expect(reasoningShown(wrapper).exists()).toBe(false)
    expect(wrapper.find('[role="status"]').text()).toBe('')
    // No more ticking once it answered.
    await tick(5000)
    expect(line(wrapper)).toBe('Thought for 5 s')
    // The server's own measure wins once it is known.
    await wrapper.setProps({ message: { ...thinking, content: 'The answer is 42.', status: 'done', reasoningMs: 4_400 } })
    expect(line(wrapper)).toBe('Thought for 4 s')
  })

  it('stays open when the answer starts if the person opened it', async () => {
    const thinking = answer(0, { status: 'streaming', reasoning: 'Let me see' })
    const wrapper = await mountContent(thinking)
    await toggle(wrapper).trigger('click')
    await tick(2000)
    await wrapper.setProps({ message: { ...thinking, content: 'Yes' } })
    expect(line(wrapper)).toBe('Thought for 2 s')
    expect(toggle(wrapper).attributes('aria-expanded')).toBe('true')
    expect(reasoningShown(wrapper).text()).toBe('Let me see')
    expect(wrapper.text()).toContain('Yes')
  })

  it('a finished answer with reasoning reads "Thought for N s", folded; one without shows nothing of it', async () => {
    const thought = await mountContent(answer(60_000, { content: 'Done.', reasoning: 'Long thoughts', reasoningMs: 12_400 }))
    expect(line(thought)).toBe('Thought for 12 s')
    expect(toggle(thought).attributes('aria-expanded')).toBe('false')
    expect(thought.text()).not.toContain('Long thoughts')

    const plain = await mountContent(answer(60_000, { content: 'Done.' }))
    expect(plain.find('.message-reasoning').exists()).toBe(false)
    expect(plain.text()).toBe('Done.')
    const waiting = await mountContent(answer(0, { status: 'pending' }))
    expect(waiting.find('.message-reasoning').exists()).toBe(false)
    expect(waiting.get('.message-typing[role="status"]').text()).toBe('Thinking…')
  })
})

describe('MessageActions with reasoning', () => {
  it('shows the reasoning tokens in the usage line, and copies the answer without its reasoning', async () => {
    vi.useRealTimers()
    const writeText = vi.fn(async () => {})
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true })
    const wrapper = await mountSuspended(ChatMessage, {
      props: { message: answer(0, { content: 'Blue.', reasoning: 'Sky scatters light.', reasoningMs: 3000, usage: { promptTokens: 120, completionTokens: 480, reasoningTokens: 300 } }) },
    })
    expect(wrapper.get('.message-usage').text()).toBe('120 → 480 tokens (300 reasoning)')
    expect(wrapper.get('.message-usage').attributes('title')).toContain('300 of them reasoning')
    await wrapper.get('button[aria-label="Copy answer"]').trigger('click')
    await vi.waitFor(() => expect(writeText).toHaveBeenCalledWith('Blue.'))
  })
})
