import { resolve } from 'node:path'
import { ATTACHMENT_LIMITS, type AttachmentKind } from '#shared/attachments'

function int(name: string, fallback: number): number {
  const raw = process.env[name]
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw)
  return Number.isFinite(n) && n >= 0 ? n : fallback
}

function list(name: string): string[] {
  return (process.env[name] ?? '').split(',').map(s => s.trim()).filter(Boolean)
}

export interface FlumeConfig {
  apiKey?: string
  baseURL?: string
  /** No key and no base URL: the built-in demo model answers. */
  demo: boolean
  defaultModel?: string
  /** Sent first in every chat that has no system prompt of its own. */
  systemPrompt?: string
  models: string[]
  dataDir: string
  /** postgres://…: PostgreSQL instead of the SQLite file in dataDir. */
  databaseUrl?: string
  /** Connections to PostgreSQL each instance keeps open, at most. */
  dbPoolSize: number
  /** redis://…: runs live in Redis, so several instances can share the work. */
  redisUrl?: string
  /** Keys and channels in Redis start with this, so several deployments (or test runs) can share one. */
  redisPrefix: string
  /** How long an instance's claim on an answer it writes lasts unless renewed: a dead instance's answers end `interrupted` this long after it died (plus a check's period). */
  leaseMs: number
  sessionSecret?: string
  maxRetries: number
  upstreamTimeoutMs: number
  stallTimeoutMs: number
  heartbeatMs: number
  saveIntervalMs: number
  /** Mid-answer, how long saves may keep failing before the answer ends with `storage_unavailable`. */
  storageGraceMs: number
  /** A stream whose reader takes in nothing for this long is dropped. */
  writeTimeoutMs: number
  demoDelayMs: number
  /** On SIGTERM/SIGINT, how long running answers may go on before they end as `interrupted`. */
  shutdownGraceMs: number
  /** `max_tokens` of every completion: the longest answer one request may cost. 0: no cap. */
  maxAnswerTokens: number
  /** Characters of earlier turns sent with a question, at most: the oldest turns beyond it are left out. 0: no budget. */
  historyChars: number
  /** Streams one identity may hold open at once (tabs, reconnects); the next is refused with 429. 0: no cap. */
  maxOpenStreams: number
  attachments: AttachmentLimits
  /** Abuse limits (docs/abuse-limits.md); `FLUME_RATE_LIMITS=off` turns them all off. */
  limits: LimitsConfig
}

export interface LimitsConfig {
  enabled: boolean
  /** New answers per identity: a burst, and a sustained rate per minute. */
  answersBurst: number
  answersPerMinute: number
  /** New answers per client IP (all its identities together). */
  ipAnswersBurst: number
  ipAnswersPerMinute: number
  /** Answers one identity may have running at once. */
  runningPerIdentity: number
  /** New identities (first visits without a session cookie) per client IP, per hour. */
  identitiesPerIpPerHour: number
  /** Tokens (prompt + completion, from the usage records) per identity per UTC day. 0: no quota. */
  dailyTokens: number
  /** Proxies in front of Flume whose X-Forwarded-For entries are believed. 0: the socket's address. */
  trustedProxies: number
}

/** What a question may carry (docs/attachments.md). */
export interface AttachmentLimits {
  /** Files per question. */
  count: number
  /** Bytes per file, as uploaded (images are scaled down in the browser first). */
  bytes: number
  /** Bytes of all of a question's files together. */
  totalBytes: number
  /** The kinds taken (FLUME_ATTACHMENT_TYPES); empty: attachments are off. */
  kinds: ReadonlySet<AttachmentKind>
}

let cached: FlumeConfig | undefined

/**
 * Settings are read from the environment at run time (never baked into the build), under the
 * names the openai SDK already knows plus FLUME_* for Flume's own; `.env.example` lists them all.
 */
export function useFlumeConfig(): FlumeConfig {
  if (cached) return cached
  const apiKey = process.env.OPENAI_API_KEY || undefined
  const baseURL = process.env.OPENAI_BASE_URL || undefined
  cached = {
    apiKey,
    baseURL,
    demo: !apiKey && !baseURL,
    defaultModel: process.env.FLUME_MODEL || undefined,
    systemPrompt: process.env.FLUME_SYSTEM_PROMPT?.trim() || undefined,
    models: list('FLUME_MODELS'),
    dataDir: resolve(process.env.FLUME_DATA_DIR || '.data'),
    databaseUrl: process.env.DATABASE_URL || undefined,
    dbPoolSize: Math.max(int('FLUME_DB_POOL_SIZE', 10), 1),
    redisUrl: process.env.REDIS_URL || undefined,
    redisPrefix: process.env.FLUME_REDIS_PREFIX || 'flume:',
    leaseMs: Math.max(int('FLUME_LEASE_MS', 5000), 300),
    sessionSecret: process.env.FLUME_SESSION_SECRET || undefined,
    maxRetries: int('FLUME_UPSTREAM_MAX_RETRIES', 2),
    upstreamTimeoutMs: int('FLUME_UPSTREAM_TIMEOUT_MS', 60_000),
    stallTimeoutMs: int('FLUME_STALL_TIMEOUT_MS', 60_000),
    heartbeatMs: Math.max(int('FLUME_HEARTBEAT_MS', 15_000), 10),
    saveIntervalMs: Math.max(int('FLUME_SAVE_INTERVAL_MS', 1000), 10),
    storageGraceMs: Math.max(int('FLUME_STORAGE_GRACE_MS', 15_000), 0),
    writeTimeoutMs: Math.max(int('FLUME_WRITE_TIMEOUT_MS', 30_000), 100),
    demoDelayMs: int('FLUME_DEMO_DELAY_MS', 30),
    shutdownGraceMs: int('FLUME_SHUTDOWN_GRACE_MS', 8000),
    maxAnswerTokens: int('FLUME_MAX_ANSWER_TOKENS', 4096),
    historyChars: int('FLUME_HISTORY_CHARS', 48_000),
    maxOpenStreams: int('FLUME_MAX_STREAMS', 20),
    attachments: {
      count: int('FLUME_ATTACHMENTS_MAX_COUNT', ATTACHMENT_LIMITS.count),
      bytes: Math.max(int('FLUME_ATTACHMENT_MAX_BYTES', ATTACHMENT_LIMITS.bytes), 1),
      totalBytes: Math.max(int('FLUME_ATTACHMENTS_MAX_TOTAL_BYTES', ATTACHMENT_LIMITS.totalBytes), 1),
      kinds: attachmentKinds(process.env.FLUME_ATTACHMENT_TYPES),
    },
    limits: {
      enabled: !['off', 'false', '0', 'no'].includes((process.env.FLUME_RATE_LIMITS ?? '').trim().toLowerCase()),
      answersBurst: Math.max(int('FLUME_LIMIT_ANSWERS_BURST', 10), 1),
      answersPerMinute: int('FLUME_LIMIT_ANSWERS_PER_MINUTE', 6),
      ipAnswersBurst: Math.max(int('FLUME_LIMIT_IP_ANSWERS_BURST', 30), 1),
      ipAnswersPerMinute: int('FLUME_LIMIT_IP_ANSWERS_PER_MINUTE', 20),
      runningPerIdentity: Math.max(int('FLUME_LIMIT_RUNNING', 3), 1),
      identitiesPerIpPerHour: Math.max(int('FLUME_LIMIT_IDENTITIES_PER_HOUR', 20), 1),
      dailyTokens: int('FLUME_DAILY_TOKENS', 0),
      trustedProxies: int('FLUME_TRUSTED_PROXIES', 0),
    },
  }
  return cached
}

/** FLUME_ATTACHMENT_TYPES: `image,text` (the default), one of them, or `none`. */
function attachmentKinds(raw: string | undefined): ReadonlySet<AttachmentKind> {
  if (raw === undefined || !raw.trim()) return new Set(['image', 'text'])
  const names = raw.split(',').map(name => name.trim().toLowerCase())
  return new Set((['image', 'text'] as const).filter(kind => names.includes(kind)))
}
