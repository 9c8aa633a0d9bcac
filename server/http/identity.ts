import type { H3Event } from 'h3'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const SESSION_COOKIE = 'flume_session'
const MIN_SECRET_LENGTH = 32
const ONE_YEAR_S = 60 * 60 * 24 * 365

let secret: string | undefined

/**
 * The cookie signing secret: FLUME_SESSION_SECRET, or for local use one generated once and
 * kept in the data directory so sessions survive restarts.
 */
export function sessionSecret(): string {
  if (secret) return secret
  const config = useFlumeConfig()
  if (config.sessionSecret) {
    if (config.sessionSecret.length < MIN_SECRET_LENGTH) {
      throw new Error(`FLUME_SESSION_SECRET must be at least ${MIN_SECRET_LENGTH} characters long.`)
    }
    return (secret = config.sessionSecret)
  }
  const file = join(config.dataDir, 'session-secret')
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim()
    if (stored.length >= MIN_SECRET_LENGTH) return (secret = stored)
  }
  mkdirSync(config.dataDir, { recursive: true })
  const generated = `${newId()}${newId()}${newId()}`
  writeFileSync(file, generated, { mode: 0o600 })
  chmodSync(file, 0o600)
  return (secret = generated)
}

/**
 * Cookies already verified, by their exact sealed value (which cannot be forged): unsealing
 * costs several WebCrypto calls per request. Bounded; the oldest entries go first.
 */
const verified = new Map<string, { owner: string, until: number }>()
const VERIFIED_MAX = 20_000
const VERIFIED_TTL_MS = 10 * 60_000

/**
 * Who is asking: the id of a signed, HttpOnly session cookie, issued on the first request.
 * Every chat and message is owned by one such id.
 */
export async function useIdentity(event: H3Event): Promise<string> {
  if (event.context.owner) return event.context.owner as string
  const cookie = getCookie(event, SESSION_COOKIE)
  const known = cookie ? verified.get(cookie) : undefined
  if (known && known.until > Date.now()) return (event.context.owner = known.owner)
  const session = await useSession(event, {
    name: SESSION_COOKIE,
    password: sessionSecret(),
    sessionHeader: false,
    maxAge: ONE_YEAR_S,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      secure: getRequestProtocol(event, { xForwardedProto: true }) === 'https',
    },
  })
  const owner = session.id!
  if (cookie && !issuedCookie(event)) {
    // The cookie was valid (no new session was issued): remember it.
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!)
    verified.set(cookie, { owner, until: Date.now() + VERIFIED_TTL_MS })
  }
  return (event.context.owner = owner)
}

function issuedCookie(event: H3Event): boolean {
  const header = getResponseHeader(event, 'set-cookie')
  const lines = Array.isArray(header) ? header : header ? [String(header)] : []
  return lines.some(line => line.startsWith(`${SESSION_COOKIE}=`))
}
