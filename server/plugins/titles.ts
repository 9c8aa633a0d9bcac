/** Chats get a short generated title after their first answer (server/utils/titles.ts). */
export default defineNitroPlugin(() => {
  if (!titlesEnabled()) return
  onAnswerFinished(event => generateTitle(event))
})
