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
 * Who is asking: the id of a signed, HttpOnly session cookie, issued on the first request.
 * Every chat and message is owned by one such id.
 */
export async function useIdentity(event: H3Event): Promise<string> {
  if (event.context.owner) return event.context.owner as string
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
  event.context.owner = session.id
  return session.id!
}
