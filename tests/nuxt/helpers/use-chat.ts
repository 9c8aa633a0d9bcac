import { defineComponent, h } from 'vue'
import { mountSuspended } from '@nuxt/test-utils/runtime'
import { useChat } from '~/composables/useChat'

/** useChat(chatId) inside a mounted component, as a page uses it (unmount to dispose it). */
export async function mountChat(chatId: string) {
  let chat!: ReturnType<typeof useChat>
  const Harness = defineComponent({
    setup() {
      chat = useChat(chatId)
      return () => h('div')
    },
  })
  const wrapper = await mountSuspended(Harness)
  return { chat, wrapper }
}
