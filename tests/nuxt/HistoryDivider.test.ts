/**
 * The divider above the oldest message the model is still sent (docs/answer-limits.md): placed by
 * the server's own rule, over what the thread shows.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { enableAutoUnmount, type VueWrapper } from '@vue/test-utils'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import type { Message } from '#shared/schemas'
import ChatThread from '~/components/ChatThread.vue'
import { withinBudget } from '../../server/generation/prompt'
import { message, uid } from './helpers/data'

enableAutoUnmount(afterEach)

const LABEL = 'Earlier messages are not sent to the model'

/** A conversation of `contents` (questions and answers in turn, a question first). */
function conversation(contents: string[], chatId = uid('chat')): Message[] {
  return contents.map((content, i) => message(chatId, { role: i % 2 ? 'assistant' : 'user', content }))
}

/** The articles' texts in order, with `|` where the divider is. */
function layout(wrapper: VueWrapper): string[] {
  return wrapper.findAll('.thread-cut, article').map(el => (el.classes('thread-cut') ? '|' : el.attributes('data-role')!))
}

async function mountThread(messages: Message[], historyChars: number, hasOlder = false) {
  return await mountSuspended(ChatThread, { props: { messages, historyChars, hasOlder } })
}

describe('the history divider', () => {
  it('sits above the oldest message sent with the latest question, labelled', async () => {
    // 10 + 10 + 10 + 10 + question 10: a budget of 30 keeps the last question and the two before it.
    const messages = conversation(['q1 aaaaaaa', 'a1 bbbbbbb', 'q2 ccccccc', 'a2 ddddddd', 'q3 eeeeeee'])
    const wrapper = await mountThread(messages, 30)
    const cut = wrapper.get('[role="separator"]')
    expect(cut.attributes('aria-label')).toBe(LABEL)
    expect(cut.text()).toBe(LABEL)
    expect(layout(wrapper)).toEqual(['user', 'assistant', '|', 'user', 'assistant', 'user'])
  })

  it('is not shown without a budget, when everything fits, or with nothing before the question', async () => {
    const messages = conversation(['q1 aaaaaaa', 'a1 bbbbbbb', 'q2 ccccccc'])
    for (const budget of [0, 30, 1000]) {
      const wrapper = await mountThread(messages, budget)
      expect(wrapper.find('[role="separator"]').exists(), `budget ${budget}`).toBe(false)
    }
    const alone = await mountThread(conversation(['a question far longer than the budget']), 5)
    expect(alone.find('[role="separator"]').exists()).toBe(false)
  })

  it('never starts the model\'s view at an answer, and measures what was sent with the last question, not the answer after it', async () => {
    // A budget of 25 fits the 10-character question and the answer before it, not that answer's question.
    const messages = conversation(['q1 aaaaaaa', 'a1 bbbbbbb', 'q2 ccccccc', 'the answer being written, long already'])
    const wrapper = await mountThread(messages, 25)
    expect(layout(wrapper)).toEqual(['user', 'assistant', '|', 'user', 'assistant'])
  })

  it('moves as the conversation grows', async () => {
    const messages = conversation(['q1 aaaaaaa', 'a1 bbbbbbb', 'q2 ccccccc', 'a2 ddddddd'])
    const wrapper = await mountThread(messages, 30)
    expect(layout(wrapper)).toEqual(['user', 'assistant', 'user', 'assistant'])
    await wrapper.setProps({ messages: [...messages, ...conversation(['q3 eeeeeee'], messages[0]!.chatId)] })
    expect(layout(wrapper)).toEqual(['user', 'assistant', '|', 'user', 'assistant', 'user'])
  })

  it('is not shown above loaded messages that all fit while earlier ones are not loaded yet', async () => {
    // The loaded page starts with an answer: the model's view starts above it, among the unloaded.
    const messages = conversation(['q0 zzzzzzz', 'a1 bbbbbbb', 'q2 ccccccc']).slice(1)
    const wrapper = await mountThread(messages, 100, true)
    expect(wrapper.find('[role="separator"]').exists()).toBe(false)
    const cut = await mountThread(conversation(['q1 aaaaaaa', 'a1 bbbbbbb', 'q2 ccccccc']), 15, true)
    expect(layout(cut)).toEqual(['user', 'assistant', '|', 'user'])
  })

  it('agrees with what the server sends, answers without text left out as it leaves them out', async () => {
    let seed = 7
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647
    for (let round = 0; round < 40; round++) {
      const count = 1 + Math.floor(random() * 9)
      const contents = Array.from({ length: count }, (_, i) => (i % 2 && random() < 0.2 ? '' : 'x'.repeat(1 + Math.floor(random() * 40))))
      const messages = conversation(contents)
      const budget = Math.floor(random() * 120)
      const wrapper = await mountThread(messages, budget)
      // The server: the turns before the answer with text, the question last, cut to the budget.
      const question = messages.findLastIndex(m => m.role === 'user')
      const history = messages.slice(0, question + 1).filter(m => m.content.length > 0)
      const sent = withinBudget(history.map(m => ({ role: m.role, content: m.content })), budget)
      const firstSent = history[history.length - sent.length]!
      const cut = wrapper.find('.thread-cut')
      const context = `${JSON.stringify(contents.map(c => c.length))} budget ${budget}`
      if (sent.length === history.length) expect(cut.exists(), context).toBe(false)
      else expect(layout(wrapper).indexOf('|'), context).toBe(messages.findIndex(m => m.id === firstSent.id))
      wrapper.unmount()
    }
  })
})
