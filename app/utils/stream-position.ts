import type { StreamPosition } from '#shared/stream-id'

/**
 * Where a reader is in an answer's stream is a StreamPosition; frame ids and `?offset=` say it
 * in the format of `#shared/stream-id` (formatStreamId / parseStreamId), the server's own.
 */
export const STREAM_START: Readonly<StreamPosition> = Object.freeze({ answer: 0, reasoning: 0 })

/**
 * Of a frame's `text`, the part not received yet: `end` is where the frame ends (from its id;
 * undefined: unknown, all of it is new), `received` how much of that text was received before.
 */
export function unseenText(text: string, end: number | undefined, received: number): string {
  if (end === undefined || end - text.length >= received) return text
  return text.slice(Math.min(text.length, received - (end - text.length)))
}
