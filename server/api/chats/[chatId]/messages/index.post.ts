import { ChatParams, PostMessageBody, streamUrlFor, type PostMessageResponse } from '#shared/schemas'

export default defineEventHandler(async (event): Promise<PostMessageResponse> => {
  const { chatId } = paramsAs(event, ChatParams)
  const body = await readBodyAs(event, PostMessageBody)
  const owner = await useIdentity(event)
  const chat = await chatStore.get(owner, chatId)
  if (!chat) throw notFound()
  if (body.model) await assertKnownModel(body.model)
  // A model named here is remembered: the chat's next messages use it too.
  const model = body.model ?? chat.model ?? await resolveDefaultModel()
  const remember = body.model !== undefined && body.model !== chat.model

  const runs = useRuns()
  const assistantId = newId()
  // Registered before it is stored: a reader that finds the message also finds its run.
  const run = runs.reserve(assistantId, owner)
  let exchange: Awaited<ReturnType<typeof messageStore.createExchange>>
  try {
    exchange = await messageStore.createExchange(owner, chat, body.content, model, assistantId, remember)
  }
  catch (error) {
    runs.release(assistantId)
    throw error
  }
  const generation = runs.launch(run, { chatId, owner, model })
  event.waitUntil?.(generation)

  setResponseStatus(event, 202, 'Accepted')
  return { ...exchange, streamUrl: streamUrlFor(chatId, assistantId) }
})
