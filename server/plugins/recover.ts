/**
 * On start nothing is generating yet: answers a previous process left running (a crash, a
 * deploy) end as `interrupted`, keeping the text saved so far. Also opens the database early,
 * so a broken configuration shows at boot rather than on the first message.
 */
export default defineNitroPlugin(async () => {
  try {
    const count = await messageStore.markInterrupted()
    if (count) console.warn(`[flume] ${count} answer(s) were interrupted by a restart; their saved text is kept.`)
  }
  catch (error) {
    console.error('[flume] could not open the database', error)
  }
})
