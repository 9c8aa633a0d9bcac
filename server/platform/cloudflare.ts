import type { H3Event } from 'h3'
import type { FlumeConfig } from '../utils/config'
import type { StorageDriver } from '../storage/db'
import { openD1 } from '../storage/d1'
import { messageStore } from '../storage/store'
import { EdgeRunRegistry } from '../generation/edge-registry'
import type { GenerationIO, RunRegistry } from '../generation/registry'

/** Cloudflare Workers (`npm run build:cloudflare`): D1, no disk, no process that outlives its requests. */
export const platform = {
  name: 'cloudflare' as const,
  /** No disk: FLUME_SESSION_SECRET must be given (a wrangler secret). */
  hasDisk: false,
  /** Isolates start at any time while others generate: a boot says nothing about running answers. */
  recoversAtBoot: false,
  /**
   * The largest file an upload may have, whatever FLUME_ATTACHMENT_MAX_BYTES says: D1 keeps at most
   * 2 MB in a row, and a file is stored base64 (4/3 of its size) with its name.
   */
  maxAttachmentBytes: 1_400_000,
  openStorage(_config: FlumeConfig): Promise<StorageDriver> {
    return openD1('DB')
  },
  runRegistry(io: GenerationIO, config: FlumeConfig): RunRegistry {
    return new EdgeRunRegistry(io, {
      save: async (id, text) => text === undefined
        ? await messageStore.touch(id)
        : ((await messageStore.saveProgress([{ id, ...text }]))[0] ?? 0) > 0,
      load: id => messageStore.state(id),
      end: (id, final, heartbeatAt) => messageStore.endRunning(id, final, heartbeatAt),
      completeStopped: (id, text, saved, usage) => messageStore.completeStopped(id, text, saved, usage),
    }, { leaseMs: config.leaseMs })
  },
  /** The abuse limits count in each isolate's memory (docs/abuse-limits.md: use Cloudflare's rate limiting rules too). */
  limiterStore(_config: FlumeConfig): undefined {
    return undefined
  },
  /** Cloudflare puts the visitor's address in CF-Connecting-IP; the socket is Cloudflare's. */
  clientAddress(event: H3Event): string | undefined {
    return getRequestHeader(event, 'cf-connecting-ip') || undefined
  },
  async close(): Promise<void> {},
}
