import type { Attachment, Chat } from '#shared/schemas'

/**
 * The AI SDK's chat endpoint (docs/ai-sdk.md): `useChat()` / `new Chat()` post here by default and
 * read the answer as a UI message stream. The newest message is the question; the model sees the
 * chat as Flume stored it, not the client's copy. `trigger: 'regenerate-message'` asks again for
 * the last answer (as …/retry). The answer outlives this request: closing it does not stop it.
 * The question's `file` parts become its attachments (uploads of the person's, or `data:` URLs
 * stored as uploads here, taken out again if the question is refused).
 */
export default defineEventHandler(async (event) => {
  const body = await readBodyAs(event, SdkChatBody, sdkBodyLimit())
  const question = body.trigger === 'submit-message' ? sdkQuestion(body) : undefined
  const owner = await useIdentity(event)
  const chatId = await sdkChats.chatIdFor(owner, body.id)
  const chat = await chatStore.get(owner, chatId)
  if (body.model) await assertKnownModel(body.model)

  // Counted before the answer starts: a refused stream must not leave an answer nobody asked to read.
  const release = holdStreamSlot(event, owner)
  let files: { ids: string[], stored: string[] } | undefined
  let answer
  try {
    files = question?.files.length ? await sdkAttachmentIds(event, owner, question.files) : undefined
    answer = question === undefined
      ? await regenerate(event, owner, chat)
      : await ask(event, owner, chatId, chat, question.content, await attachmentsFor(owner, files?.ids, body.messageId), body)
  }
  catch (error) {
    release()
    if (files) await removeUploads(owner, files.stored)
    throw error
  }
  return sendUiMessageAnswer(event, owner, answer, release, { 'x-flume-chat-id': chatId })
})

async function ask(event: Parameters<typeof startAnswer>[0], owner: string, chatId: string, chat: Chat | undefined, question: string, attachments: Attachment[], body: SdkChatBody) {
  const model = await modelFor(chat, body.model)
  const remember = body.model !== undefined && body.model !== chat?.model
  const answerId = newId()
  if (chat && body.messageId) {
    // sendMessage({ messageId }) edits that question, if it is one of the chat's (ids of messages read from Flume).
    const edited = await messageStore.get(owner, chatId, body.messageId)
    if (!edited || edited.role !== 'user') throw httpError(409, 'not_editable', 'Only questions read from this chat can be edited.')
    await stopRunningAnswers(owner, chatId)
    const exchange = await startAnswer(event, { id: answerId, job: jobFor(chat, owner, model) },
      () => messageStore.editExchange(owner, chat, body.messageId!, question, model, answerId, remember, attachments))
    if (!exchange) throw notFound()
    return exchange.assistantMessage
  }
  const exchange = await startAnswer(event, { id: answerId, job: jobFor(chat ?? { id: chatId }, owner, model) }, async () => {
    if (chat) return await messageStore.createExchange(owner, chat, question, model, answerId, remember, attachments)
    try {
      return await chatStore.createWithExchange(owner, { id: chatId }, question, model, answerId, body.model !== undefined, attachments)
    }
    catch (error) {
      // Made meanwhile by another request with the same id: the question goes into it.
      const made = await chatStore.get(owner, chatId)
      if (!made) throw error
      return await messageStore.createExchange(owner, made, question, model, answerId, remember, attachments)
    }
  })
  if (!exchange) throw notFound()
  return exchange.assistantMessage
}

async function regenerate(event: Parameters<typeof startAnswer>[0], owner: string, chat: Chat | undefined) {
  const notRetryable = () => httpError(409, 'not_retryable', 'Only the last answer can be regenerated, once it has finished.')
  if (!chat) throw notRetryable()
  const previous = await sdkChats.lastMessage(owner, chat.id)
  if (!previous || previous.role !== 'assistant') throw notRetryable()
  const answerId = newId()
  const model = await modelFor(chat, undefined, previous)
  const answer = await startAnswer(event, { id: answerId, job: jobFor(chat, owner, model) },
    () => messageStore.replaceAnswer(owner, chat.id, previous.id, model, answerId))
  if (!answer) throw notRetryable()
  return answer
}
