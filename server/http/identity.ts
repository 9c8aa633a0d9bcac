import type { H3Event } from 'h3'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { platform } from '#flume/platform'

export const SESSION_COOKIE = 'flume_session'
const MIN_SECRET_LENGTH = 32
const ONE_YEAR_S = 60 * 60 * 24 * 365

let secret: string | undefined

/**
 * The cookie signing secret: FLUME_SESSION_SECRET, or for local use one generated once and
 * kept in the data directory so sessions survive restarts. Several instances on one data directory
 * may boot at once: the file is created exclusively, and the one that loses reads the winner's.
 * With a shared run registry (REDIS_URL) the secret must be given (server/plugins/recover.ts).
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
  if (!platform.hasDisk) {
    throw new Error('FLUME_SESSION_SECRET must be set on this platform (no disk to keep a generated one): wrangler secret put FLUME_SESSION_SECRET.')
  }
  const file = join(config.dataDir, 'session-secret')
  const stored = readSecret(file)
  if (stored) return (secret = stored)
  mkdirSync(config.dataDir, { recursive: true })
  const generated = `${newId()}${newId()}${newId()}`
  try {
    writeFileSync(file, generated, { mode: 0o600, flag: 'wx' })
  }
  catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    // Another process created it first (its write may still be under way): the winner's is everyone's.
    for (let attempt = 0; attempt < 50; attempt++) {
      const winner = readSecret(file)
      if (winner) return (secret = winner)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
    }
    throw new Error(`${file} exists but holds no usable secret; delete it or set FLUME_SESSION_SECRET.`, { cause: error })
  }
  chmodSync(file, 0o600)
  return (secret = generated)
}

function readSecret(file: string): string | undefined {
  try {
    const stored = readFileSync(file, 'utf8').trim()
    return stored.length >= MIN_SECRET_LENGTH ? stored : undefined
  }
  catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/**
 * Session cookies issued before the signed format below (h3 sealed sessions, `Fe26.2*…`), by
 * their exact value, once verified: unsealing costs several WebCrypto calls. Bounded; the oldest
 * entries go first. Such a cookie is replaced by a signed one on its next use.
 */
const verified = new Map<string, { owner: string, until: number }>()
const VERIFIED_MAX = 20_000
const VERIFIED_TTL_MS = 10 * 60_000

const COOKIE_VERSION = 'v1'
/** A cookie older than this is issued again on use, so a daily user never reaches its expiry. */
const RENEW_AFTER_S = 60 * 60 * 24

/**
 * `v1.<owner>.<issued>.<signature>`: the owner id, when it was issued (seconds, base 36), and an
 * HMAC-SHA256 of both under the session secret. Checking it is one synchronous HMAC; the sealed
 * sessions it replaces cost two PBKDF2 derivations, AES and HMAC through WebCrypto per request,
 * about a quarter of the CPU of starting an answer (bench/README.md, scenario C).
 */
function signCookie(owner: string, issuedS: number): string {
  const payload = `${COOKIE_VERSION}.${owner}.${issuedS.toString(36)}`
  return `${payload}.${createHmac('sha256', sessionSecret()).update(payload).digest('base64url')}`
}

function readCookie(value: string): { owner: string, issuedS: number } | undefined {
  const parts = value.split('.')
  if (parts.length !== 4 || parts[0] !== COOKIE_VERSION) return undefined
  const [, owner, issued, signature] = parts as [string, string, string, string]
  const expected = createHmac('sha256', sessionSecret()).update(`${COOKIE_VERSION}.${owner}.${issued}`).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
  const issuedS = Number.parseInt(issued, 36)
  if (!Number.isFinite(issuedS) || Date.now() / 1000 - issuedS > ONE_YEAR_S) return undefined
  return { owner, issuedS }
}

function issueCookie(event: H3Event, owner: string) {
  setCookie(event, SESSION_COOKIE, signCookie(owner, Math.floor(Date.now() / 1000)), {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    maxAge: ONE_YEAR_S,
    secure: getRequestProtocol(event, { xForwardedProto: true }) === 'https',
  })
}

/**
 * Who is asking: the id in a signed, HttpOnly session cookie, issued on the first request and
 * renewed on use. Every chat and message is owned by one such id.
 */
export async function useIdentity(event: H3Event): Promise<string> {
  if (event.context.owner) return event.context.owner as string
  const cookie = getCookie(event, SESSION_COOKIE)
  if (cookie) {
    const signed = readCookie(cookie)
    if (signed) {
      if (Date.now() / 1000 - signed.issuedS > RENEW_AFTER_S) issueCookie(event, signed.owner)
      return (event.context.owner = signed.owner)
    }
    const sealed = await ownerOfSealedCookie(event, cookie)
    if (sealed) {
      issueCookie(event, sealed)
      return (event.context.owner = sealed)
    }
  }
  // A first visit: a script without cookies must not mint identities (each with its own limits) at will.
  await admitNewIdentity(event)
  const owner = newId()
  issueCookie(event, owner)
  return (event.context.owner = owner)
}

/**
 * The owner named by the session cookie in a raw `Cookie` header, or undefined when there is none
 * or it is not valid. For a WebSocket upgrade (server/api/ws.ts), which has no H3 event: nothing is
 * issued or renewed, and no identity is made.
 */
export async function ownerOfCookieHeader(header: string | null | undefined): Promise<string | undefined> {
  let cookie: string | undefined
  for (const part of header?.split(';') ?? []) {
    const at = part.indexOf('=')
    if (at > 0 && part.slice(0, at).trim() === SESSION_COOKIE) {
      cookie = part.slice(at + 1).trim()
      break
    }
  }
  if (!cookie) return undefined
  try {
    cookie = decodeURIComponent(cookie)
  }
  catch {
    return undefined
  }
  const signed = readCookie(cookie)
  if (signed) return signed.owner
  // h3 v1's unsealSession never reads its event.
  return ownerOfSealedCookie(undefined as unknown as H3Event, cookie)
}

/** The owner of a cookie in the older sealed format, if it is one and still valid. */
async function ownerOfSealedCookie(event: H3Event, cookie: string): Promise<string | undefined> {
  if (!cookie.startsWith('Fe26.')) return undefined
  const known = verified.get(cookie)
  if (known && known.until > Date.now()) return known.owner
  try {
    const data = await unsealSession(event, { password: sessionSecret(), maxAge: ONE_YEAR_S }, cookie)
    const owner = typeof data?.id === 'string' ? data.id : undefined
    if (!owner) return undefined
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!)
    verified.set(cookie, { owner, until: Date.now() + VERIFIED_TTL_MS })
    return owner
  }
  catch {
    return undefined
  }
}
