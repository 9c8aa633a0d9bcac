import { CreateChatBody } from '#shared/schemas'

export default defineEventHandler(async (event) => {
  const body = await readBodyAs(event, CreateChatBody)
  const owner = await useIdentity(event)
  const chat = await chatStore.create(owner, body.title)
  setResponseStatus(event, 201, 'Created')
  return chat
})
