import { ChatParams, type Chat, type Message } from '#shared/schemas'

/**
 * A chat page rendered without Vue, for people who build with htmx (docs/htmx.md): `?chat=<id>`
 * shows that chat's messages and follows an answer still being written from where its stored
 * text ends, so a reload mid-answer resumes.
 */
export default defineEventHandler(async (event) => {
  const query = getQuery(event)
  const owner = await useIdentity(event)
  let chat: Chat | undefined
  let messages: Message[] = []
  if (query.chat !== undefined) {
    const parsed = ChatParams.safeParse({ chatId: query.chat })
    chat = parsed.success ? await chatStore.get(owner, parsed.data.chatId) : undefined
    if (chat) messages = await messageStore.list(owner, chat.id)
  }
  setResponseHeaders(event, HTMX_PAGE_HEADERS)
  if (query.chat !== undefined && !chat) {
    setResponseStatus(event, 404, 'Not Found')
    return htmxPage(html`<main><h1><a href="/htmx">Flume</a></h1><p>No such chat.</p></main>`, 'Not found')
  }
  return htmxPage(html`<main>
<header><h1><a href="/htmx">Flume</a></h1>${chat ? html`<p class="title">${chat.title}</p>` : ''}</header>
<section id="messages" aria-label="Messages">
${messages.map(htmxMessage)}</section>
${htmxComposer(chat?.id)}
</main>`, chat ? `${chat.title} · Flume (htmx)` : undefined)
})
