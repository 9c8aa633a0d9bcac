/**
 * How far a reader is in an answer's stream, as frame ids and `?offset=` say it (CONTRACT.md,
 * stream frames): the length of the answer text up to the end of the frame. The only place that
 * reads or writes a frame id on the client.
 */
export interface StreamPosition {
  /** Length of the answer text received (JavaScript string length): the next delta's offset. */
  answer: number
}

export const STREAM_START: Readonly<StreamPosition> = Object.freeze({ answer: 0 })

/** The position a frame id (`lastEventId`) names; undefined when it names none. Parts after a comma are not read. */
export function parseFrameId(id: string): StreamPosition | undefined {
  const answer = Number.parseInt(id.split(',')[0]!, 10)
  return Number.isFinite(answer) ? { answer } : undefined
}

/** The frame id, or `?offset=` value, that resumes a stream at `position`. */
export function formatFrameId(position: StreamPosition): string {
  return String(position.answer)
}

/**
 * Of a frame's `text`, the part not received yet: `end` is where the frame ends (from its id;
 * undefined: unknown, all of it is new), `received` how much of that text was received before.
 */
export function unseenText(text: string, end: number | undefined, received: number): string {
  if (end === undefined || end - text.length >= received) return text
  return text.slice(Math.min(text.length, received - (end - text.length)))
}
