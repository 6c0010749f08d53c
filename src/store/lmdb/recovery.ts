// Rebuilds the core (pools, tokens, leases, timer wheel) from the lmdb records of one read snapshot,
// applying the restart grace rule. Used at start and after a failed commit.

import { TokenPools } from "../../core/token-pools.js";
import type { LeaseEvent, Millis } from "../../core/types.js";
import type { Logger } from "../../server/logger.js";
import type { LmdbData } from "./lmdb-env.js";
import { CorruptRecord, decodePool, decodeToken, poolRange } from "./records.js";

export interface LoadOptions {
  /** When loading starts: the grace window is measured from here. */
  readonly now: Millis;
  readonly graceMs: number;
  readonly log: Logger;
  readonly onEvent: (e: LeaseEvent) => void;
  /** Tokens between progress log lines. */
  readonly progressEvery?: number;
}

export interface LoadStats {
  readonly pools: number;
  readonly tokens: number;
  readonly held: number;
  readonly ms: number;
}

/** Throws CorruptRecord (or lmdb's own error) on anything it cannot load; never returns a partial core. */
export function loadCore(data: LmdbData, options: LoadOptions): { core: TokenPools; stats: LoadStats } {
  const started = performance.now();
  // The restart grace rule: no recovered lease or idle deadline falls before load time +
  // RESTART_GRACE. Holders could not renew while the server was down, so each gets at least the
  // grace window to re-assert with KeepAlive; deadlines further out are kept as stored.
  const floor = options.now + options.graceMs;
  const every = options.progressEvery ?? 250_000;
  const core = new TokenPools({ onEvent: options.onEvent });
  // One read transaction: pools and tokens come from the same committed state.
  const transaction = data.env.useReadTransaction();
  try {
    const total = entryCount(data);
    let tokens = 0;
    let held = 0;
    let pools = 0;
    for (const { key: name, value } of data.pools.getRange({ transaction })) {
      const pool = decodePool(name, value);
      const restored = core.restorePool(name, pool.config, { generation: pool.generation, sequence: pool.sequence });
      if (!restored.ok) throw new CorruptRecord(`pool record "${name}": ${JSON.stringify(restored.error)}`);
      pools++;
      for (const { key, value: tokenValue } of data.tokens.getRange({ ...poolRange(name), transaction })) {
        const record = decodeToken(name, key, tokenValue, floor);
        // A lease above the pool's mark would mean the mark was written after the lease: never, by design.
        if (record.lease && record.lease.generation > pool.generation) {
          throw new CorruptRecord(`token record "${key.join("/")}": generation ${record.lease.generation} above the pool mark ${pool.generation}`);
        }
        const put = core.restoreToken(name, record, options.now);
        if (!put.ok) throw new CorruptRecord(`token record "${key.join("/")}": ${JSON.stringify(put.error)}`);
        if (record.lease) held++;
        if (++tokens % every === 0) options.log.info({ loaded: tokens, total }, "recovering tokens");
      }
    }
    // Every token record sits under an existing pool: a pool's tokens are removed with it, atomically.
    if (total !== undefined && total !== tokens) {
      throw new CorruptRecord(`${total - tokens} token records belong to no pool`);
    }
    return { core, stats: { pools, tokens, held, ms: Math.round(performance.now() - started) } };
  } finally {
    transaction.done();
  }
}

function entryCount(data: LmdbData): number | undefined {
  const stats: unknown = data.tokens.getStats();
  const n = typeof stats === "object" && stats !== null ? (stats as { entryCount?: unknown }).entryCount : undefined;
  return typeof n === "number" ? n : undefined;
}
