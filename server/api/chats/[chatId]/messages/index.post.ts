import { ChatParams, PostMessageBody, streamUrlFor, type PostMessageResponse } from '#shared/schemas'

export default defineEventHandler(async (event): Promise<PostMessageResponse> => {
  const { chatId } = paramsAs(event, ChatParams)
  const body = await readBodyAs(event, PostMessageBody)
  const owner = await useIdentity(event)
  const chat = await chatStore.get(owner, chatId)
  if (!chat) throw notFound()
  const model = body.model ?? await resolveDefaultModel()
  if (body.model) {
    const { models, authoritative } = await listModels()
    if (authoritative && !models.includes(body.model)) {
      throw httpError(400, 'unknown_model', 'This model is not offered by the server; see GET /api/models.')
    }
  }

  const runs = useRuns()
  const assistantId = newId()
  // Registered before it is stored: a reader that finds the message also finds its run.
  const run = runs.reserve(assistantId, owner)
  let exchange: Awaited<ReturnType<typeof messageStore.createExchange>>
  try {
    exchange = await messageStore.createExchange(owner, chat, body.content, model, assistantId)
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
