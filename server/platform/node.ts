import type { H3Event } from 'h3'
import Redis from 'ioredis'
import type { FlumeConfig } from '../utils/config'
import type { StorageDriver } from '../storage/db'
import { openPostgres } from '../storage/postgres'
import { openSqlite } from '../storage/sqlite'
import { MemoryRunRegistry } from '../generation/memory-registry'
import { RedisRunRegistry } from '../generation/redis-registry'
import type { GenerationIO, RunRegistry } from '../generation/registry'

/**
 * Node (and every preset with a process and a disk). nuxt.config's `#flume/platform` alias picks
 * this file or cloudflare.ts at build time, so neither build carries the other's code (pg,
 * node:sqlite and ioredis stay out of the worker).
 */
export const platform = {
  name: 'node' as const,
  /** A session secret can be generated once and kept in the data directory. */
  hasDisk: true,
  /** A process that boots has nothing of its own running: answers left running are settled then. */
  recoversAtBoot: true,
  /** The database takes files of any size FLUME_ATTACHMENT_MAX_BYTES allows. */
  maxAttachmentBytes: Number.POSITIVE_INFINITY,
  openStorage(config: FlumeConfig): Promise<StorageDriver> {
    return config.databaseUrl ? openPostgres(config.databaseUrl, config.dbPoolSize) : openSqlite(config.dataDir)
  },
  /** In this process's memory, or in Redis when REDIS_URL is set (docs/instances.md). */
  runRegistry(io: GenerationIO, config: FlumeConfig): RunRegistry {
    return config.redisUrl
      ? new RedisRunRegistry(io, { url: config.redisUrl, prefix: config.redisPrefix, leaseMs: config.leaseMs })
      : new MemoryRunRegistry(io)
  },
  /** Where the abuse limits count (server/http/limits.ts): Redis when REDIS_URL is set, else this process. */
  limiterStore(config: FlumeConfig): Redis | undefined {
    if (!config.redisUrl) return undefined
    // While Redis is away, a command fails after one reconnection attempt and the limits use this
    // process's counters meanwhile, instead of holding requests.
    if (!limiterClient) {
      limiterClient = new Redis(config.redisUrl, { maxRetriesPerRequest: 1 })
      limiterClient.on('error', error => console.warn('[flume] redis (limits):', (error as Error).message))
    }
    return limiterClient
  },
  /** The socket's peer or, behind proxies, X-Forwarded-For as FLUME_TRUSTED_PROXIES says (limits.ts). */
  clientAddress(_event: H3Event): string | undefined {
    return undefined
  },
  async close(): Promise<void> {
    await limiterClient?.quit().catch(() => limiterClient?.disconnect())
    limiterClient = undefined
  },
}

let limiterClient: Redis | undefined
