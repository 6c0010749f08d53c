// Rebuilds the core (pools, tokens, leases, timer wheel) from the lmdb records of one read snapshot,
// applying the restart grace rule. Used at start (yielding, so probes are answered meanwhile) and,
// in one go, after a failed commit.

import { TokenPools } from "../../core/token-pools.js";
import type { LeaseEvent, Millis } from "../../core/types.js";
import type { Logger } from "../../runtime/logger.js";
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

export interface Loaded {
  readonly core: TokenPools;
  readonly stats: LoadStats;
}

/** Tokens restored between chances for the event loop to run, when loading yields (a few ms of work). */
const STEP_TOKENS = 1024;

/** Throws CorruptRecord (or lmdb's own error) on anything it cannot load; never returns a partial core. */
export function loadCore(data: LmdbData, options: LoadOptions): Loaded {
  const steps = loadSteps(data, options);
  for (let step = steps.next(); ; step = steps.next()) if (step.done) return step.value;
}

/**
 * As loadCore, but lets the event loop run every STEP_TOKENS tokens: a large data dir takes seconds to
 * load, and meanwhile /healthz must answer and /readyz must say why it is not ready. Nothing else
 * touches the environment until the load is over, so the read snapshot stays what it was.
 */
export async function loadCoreYielding(data: LmdbData, options: LoadOptions): Promise<Loaded> {
  const steps = loadSteps(data, options);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The load, suspended every STEP_TOKENS tokens; the read transaction ends with it, however it ends. */
function* loadSteps(data: LmdbData, options: LoadOptions): Generator<void, Loaded, void> {
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
        if (tokens % STEP_TOKENS === 0) yield;
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
