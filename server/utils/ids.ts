const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const ID_BYTES = 16
/** Random bytes fetched 256 ids at a time: one call to the system's generator, not one per id. */
const pool = new Uint8Array(ID_BYTES * 256)
let used = pool.length

/** 128 random bits as 22 url-safe characters (base64url): unguessable, not sequential. */
export function newId(): string {
  if (used === pool.length) {
    crypto.getRandomValues(pool)
    used = 0
  }
  const at = used
  used += ID_BYTES
  let id = ''
  // Five 3-byte groups make 20 characters; the last byte makes 2 more (128 bits = 22 characters).
  for (let i = at; i < at + 15; i += 3) {
    const n = (pool[i]! << 16) | (pool[i + 1]! << 8) | pool[i + 2]!
    id += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!
  }
  const last = pool[at + 15]!
  return id + ALPHABET[last >> 2]! + ALPHABET[(last & 3) << 4]!
}
