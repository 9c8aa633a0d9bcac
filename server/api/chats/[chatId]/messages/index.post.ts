import { ChatParams, PostMessageBody, streamUrlFor, type PostMessageResponse } from '#shared/schemas'

export default defineEventHandler(async (event): Promise<PostMessageResponse> => {
  const { chatId } = paramsAs(event, ChatParams)
  const body = await readBodyAs(event, PostMessageBody)
  const owner = await useIdentity(event)
  const chat = await chatStore.get(owner, chatId)
  if (!chat) throw notFound()
  if (body.model) await assertKnownModel(body.model)
  const attachments = await attachmentsFor(owner, body.attachments)
  // A model named here is remembered: the chat's next messages use it too.
  const model = await modelFor(chat, body.model)
  const remember = body.model !== undefined && body.model !== chat.model

  const answerId = newId()
  const exchange = await startAnswer(event, { id: answerId, job: jobFor(chat, owner, model) },
    () => messageStore.createExchange(owner, chat, body.content, model, answerId, remember, attachments))
  return { ...exchange!, streamUrl: streamUrlFor(chatId, answerId) }
})
