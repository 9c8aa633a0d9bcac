import { platform } from '#flume/platform'

/**
 * Boot checks. A bad configuration stops the server with its reason rather than failing every
 * request. Answers a previous process left running (a crash, a deploy) end as `interrupted`,
 * keeping the text saved so far; with several instances (REDIS_URL) only those no instance is
 * writing any more (their lease ran out), never another instance's live answers. On a graceful
 * shutdown the runs still going end the same way, with all their text saved.
 */
export default defineNitroPlugin(async () => {
  // The edge: isolates boot at any time while others write answers, and have no database before a
  // request. There a reader or a stop ends an answer whose writer went silent (edge-registry.ts).
  if (!platform.recoversAtBoot) return
  try {
    if (useFlumeConfig().redisUrl && !useFlumeConfig().sessionSecret) {
      throw new Error('FLUME_SESSION_SECRET must be set when REDIS_URL is: every instance must sign session cookies with the same secret.')
    }
    sessionSecret()
  }
  catch (error) {
    console.error(`[flume] ${(error as Error).message}`)
    process.exit(1)
  }
  try {
    const runs = useRuns()
    let count = 0
    for (const id of await messageStore.unfinished()) {
      if (await runs.settle(id, INTERRUPTED)) count++
    }
    if (count) console.warn(`[flume] ${count} answer(s) were interrupted by a restart; their saved text is kept.`)
  }
  catch (error) {
    // Opening the database here also makes a broken configuration show at boot.
    console.error('[flume] could not open the database', error)
  }
})
