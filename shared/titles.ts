/**
 * A chat's title before one is generated or typed: derived from its first question, on the server
 * (the store) and in the web client alike. Where a title came from is stored with it
 * (`chats.title_source`), never recognised by deriving it again.
 */

/** Longest title derived from a question, ellipsis included. */
export const DERIVED_TITLE_LENGTH = 60

/** `text` cut to at most `max` characters: at its last space, if one is past the 20th character, else mid-word. */
export function cutAtWord(text: string, max: number): string {
  if (text.length <= max) return text
  const space = text.lastIndexOf(' ', max)
  return (space > 20 ? text.slice(0, space) : text.slice(0, max)).trimEnd()
}

/** A short title from the first message: its first line, spaces folded, cut at a word with an ellipsis. */
export function titleFrom(content: string): string {
  const line = content.trim().split('\n')[0]!.trim().replace(/\s+/g, ' ')
  return line.length <= DERIVED_TITLE_LENGTH ? line : `${cutAtWord(line, DERIVED_TITLE_LENGTH - 1)}…`
}
