/** Chats get a short generated title after their first answer (server/utils/titles.ts). */
export default defineNitroPlugin((nitroApp) => {
  if (!titlesEnabled()) return
  nitroApp.hooks.hook('flume:answer-finished', event => void generateTitle(event))
})
