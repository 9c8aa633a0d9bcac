/**
 * On start nothing is generating yet: answers a previous process left running (a crash, a
 * deploy) end as `interrupted`, keeping the text saved so far. On a graceful shutdown the
 * runs still going end the same way, with all their text saved.
 */
export default defineNitroPlugin(async (nitroApp) => {
  nitroApp.hooks.hook('close', () => useRuns().interruptAll())
  try {
    const count = await messageStore.markInterrupted()
    if (count) console.warn(`[flume] ${count} answer(s) were interrupted by a restart; their saved text is kept.`)
  }
  catch (error) {
    // Opening the database here also makes a broken configuration show at boot.
    console.error('[flume] could not open the database', error)
  }
})
