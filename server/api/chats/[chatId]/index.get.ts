import { ChatParams, type ChatWithMessages } from '#shared/schemas'

export default defineEventHandler(async (event): Promise<ChatWithMessages> => {
  const { chatId } = paramsAs(event, ChatParams)
  const owner = await useIdentity(event)
  const chat = await chatStore.get(owner, chatId)
  if (!chat) throw notFound()
  return { ...chat, messages: await messageStore.list(owner, chatId) }
})
