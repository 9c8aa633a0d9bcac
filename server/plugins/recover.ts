/**
 * Boot checks. A bad configuration stops the server with its reason rather than failing every
 * request. Nothing is generating yet, so answers a previous process left running (a crash, a
 * deploy) end as `interrupted`, keeping the text saved so far; on a graceful shutdown the runs
 * still going end the same way, with all their text saved.
 */
export default defineNitroPlugin(async () => {
  try {
    sessionSecret()
  }
  catch (error) {
    console.error(`[flume] ${(error as Error).message}`)
    process.exit(1)
  }
  try {
    const count = await messageStore.markInterrupted()
    if (count) console.warn(`[flume] ${count} answer(s) were interrupted by a restart; their saved text is kept.`)
  }
  catch (error) {
    // Opening the database here also makes a broken configuration show at boot.
    console.error('[flume] could not open the database', error)
  }
})
