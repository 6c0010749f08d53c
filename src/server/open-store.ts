// Builds the configured Store and makes sure the `default` pool exists. Each backend's module is
// loaded only when configured: lmdb alone allocates ~17 MB of buffers at import, ~17 B per lease of a
// 10^6-lease memory-store server that never opens a database (docs/BENCHMARKS.md, memory per lease).

import type { Config } from "../config/config.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/logger.js";
import { LocalStore } from "../store/local-store.js";
import { redactUrl } from "../config/redact-url.js";
import { redisLocation } from "../config/redis-topology.js";
import type { Store, StoreObserver } from "../store/store.js";

export const DEFAULT_POOL = "default";

export class StoreOpenError extends Error {}

/** What the server is waiting for while openStore runs (the readiness reason meanwhile). */
export function openingReason(config: Config): string {
  switch (config.store) {
    case "lmdb":
      return `recovering stored state from ${config.dataDir}`;
    case "redis":
      return `connecting to Redis at ${redisLocation(config.redisTopology, redactUrl(config.redisUrl))}`;
    default:
      return "store starting";
  }
}

export async function openStore(config: Config, clock: Clock, log: Logger, observer?: StoreObserver): Promise<Store> {
  const events = { ringSize: config.eventRingSize, subscriberBuffer: config.watchBuffer };
  const observed = observer ? { observer } : {};
  let store: Store;
  switch (config.store) {
    case "memory":
      store = new LocalStore({ kind: "memory", clock, events, ...observed });
      break;
    case "lmdb": {
      const { LmdbOpenError } = await import("../store/lmdb/lmdb-env.js");
      const { recoverLmdbStore } = await import("../store/lmdb/lmdb-store.js");
      try {
        store = await recoverLmdbStore({ dataDir: config.dataDir, restartGraceMs: config.restartGraceMs, clock, log, events, ...observed });
      } catch (e) {
        throw e instanceof LmdbOpenError ? new StoreOpenError(e.message) : e;
      }
      break;
    }
    case "redis": {
      const { RedisOpenError, RedisStore } = await import("../store/redis/redis-store.js");
      try {
        store = await RedisStore.open({
          url: config.redisUrl,
          topology: config.redisTopology,
          replicaAck: config.redisReplicaAck,
          commandTimeoutMs: config.redisTimeoutMs,
          connectTimeoutMs: config.redisTimeoutMs,
          eventRingSize: config.eventRingSize,
          watchBuffer: config.watchBuffer,
          log,
          ...observed,
        });
      } catch (e) {
        throw e instanceof RedisOpenError ? new StoreOpenError(e.message) : e;
      }
      break;
    }
    default:
      throw new StoreOpenError(`store "${config.store}" is not available in this build; use --store memory`);
  }
  await ensureDefaultPool(store, config, log);
  return store;
}

async function ensureDefaultPool(store: Store, config: Config, log: Logger): Promise<void> {
  const existing = await store.getPool(DEFAULT_POOL);
  if (existing.ok) return;
  const created = await store.createPool(
    DEFAULT_POOL,
    { leaseTtlMs: config.defaultPool.leaseTtlMs, idleTtlMs: config.defaultPool.idleTtlMs, maxTokens: config.maxTokensPerPool },
    config.defaultPool.totalTokens,
  );
  // Replicas sharing a store start together: another one may have created it first.
  if (!created.ok && created.error.code === "POOL_EXISTS") return;
  if (!created.ok) throw new StoreOpenError(`cannot create the default pool: ${JSON.stringify(created.error)}`);
  log.info({ pool: DEFAULT_POOL, tokens: created.value.total }, "default pool created");
}
