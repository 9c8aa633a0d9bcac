/** How often, at most, streamed text is committed to the page (ms). */
export const TEXT_COMMIT_INTERVAL = 60

export interface TextBatcher {
  /** Queues text for a message; it is committed with the next batch. */
  append: (id: string, text: string) => void
  /** Commits everything queued now (end of a stream, an error, a stop, a non-text frame). */
  flush: () => void
  /** Length of the text queued for a message and not committed yet. */
  pendingLength: (id: string) => number
  /** Drops everything queued and anything scheduled. */
  clear: () => void
}

/**
 * Gathers streamed text and hands it to `commit` in batches: at most one batch per `interval`
 * ms, each in an animation frame. The first text after a quiet spell shows in the next frame;
 * while text keeps coming, the page is updated about every `interval` ms instead of every frame,
 * so each update (reactivity, markdown, layout, paint) serves many tokens.
 * `commit` gets, per message, the text queued since the last batch, in order.
 */
export function createTextBatcher(commit: (id: string, text: string) => void, interval = TEXT_COMMIT_INTERVAL): TextBatcher {
  const pending = new Map<string, string>()
  let frame: number | null = null
  let timer: ReturnType<typeof setTimeout> | null = null
  let lastCommit = Number.NEGATIVE_INFINITY

  function cancel() {
    if (frame !== null) cancelAnimationFrame(frame)
    if (timer !== null) clearTimeout(timer)
    frame = null
    timer = null
  }

  function flush() {
    cancel()
    if (!pending.size) return
    lastCommit = performance.now()
    const batch = [...pending]
    pending.clear()
    for (const [id, text] of batch) commit(id, text)
  }

  function requestFrame() {
    timer = null
    frame = requestAnimationFrame(() => {
      frame = null
      flush()
    })
  }

  function schedule() {
    if (frame !== null || timer !== null) return
    const wait = lastCommit + interval - performance.now()
    if (wait <= 0) requestFrame()
    else timer = setTimeout(requestFrame, wait)
  }

  return {
    append(id, text) {
      if (!text) return
      pending.set(id, (pending.get(id) ?? '') + text)
      schedule()
    },
    flush,
    pendingLength: id => pending.get(id)?.length ?? 0,
    clear() {
      cancel()
      pending.clear()
    },
  }
}
