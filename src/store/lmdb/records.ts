// The on-disk shape of lmdb state: key layout and value codecs for pool and token records. Values are
// validated when read, so damaged data stops recovery with the offending key instead of loading garbage.

import type { Millis, PoolConfig, TokenInfo, TokenRecord } from "../../core/types.js";

/** Bumped whenever the layout below changes incompatibly; a data dir with another version is refused. */
export const FORMAT_VERSION = 1;
export const FORMAT_NAME = "tokenpool-lmdb";
export const FORMAT_KEY = "format";

export interface FormatMarker {
  readonly name: string;
  readonly version: number;
}

/** A pool's config plus the high-water marks of everything it has issued. */
export interface PoolRecord {
  readonly config: PoolConfig;
  readonly generation: number;
  readonly sequence: number;
}

/**
 * Token records are keyed [pool, token] (lmdb's ordered-binary array keys: the parts joined by a 0
 * byte), so one pool's tokens are one contiguous range. Decoded array keys also give the token id as
 * its own flat string; slicing it out of a joined string key would keep the whole key alive behind
 * every id held in memory (about 40 bytes more per token).
 */
export type TokenKey = string[];
export const tokenKey = (pool: string, token: string): TokenKey => [pool, token];
// Every token id is printable ASCII, so it sorts below "\uffff".
export const poolRange = (pool: string): { start: TokenKey; end: TokenKey } => ({ start: [pool], end: [pool, "\uffff"] });

/**
 * Tokens are many, so their values are positional: [idle] when free, [idle, owner, generation, ttl,
 * expire, requestId] when held, plus a trailing 1 when the lease is on the recycle queue (an optional
 * seventh field, so records written before it existed still read). Flags (FLAG_*) come last, only when
 * set: [idle, flags] when free, and as an eighth field (after a 0/1 recycle field) when held. Records
 * without flags keep the older shapes, so a data dir that never used cordons or gangs reads as before.
 */
export type TokenValue =
  | [number | null]
  | [number | null, number]
  | [number | null, string, number, number, number, string | null]
  | [number | null, string, number, number, number, string | null, 1]
  | [number | null, string, number, number, number, string | null, 0 | 1, number];

/** Flag bits of a token record. */
export const FLAG_CORDONED = 1;
/** The lease belongs to a gang: its request id names the whole gang (AssignTokens retries). */
export const FLAG_GANG = 2;

export function encodeToken(info: TokenInfo): TokenValue {
  const idle = info.idleExpireTime ?? null;
  const lease = info.lease;
  const flags = (info.cordoned ? FLAG_CORDONED : 0) | (lease?.gang ? FLAG_GANG : 0);
  if (!lease) return flags === 0 ? [idle] : [idle, flags];
  const requestId = lease.requestId ?? null;
  if (flags !== 0) return [idle, lease.owner, lease.generation, lease.leaseTtlMs, lease.expireTime, requestId, lease.recyclable ? 1 : 0, flags];
  if (lease.recyclable) return [idle, lease.owner, lease.generation, lease.leaseTtlMs, lease.expireTime, requestId, 1];
  return [idle, lease.owner, lease.generation, lease.leaseTtlMs, lease.expireTime, requestId];
}

export class CorruptRecord extends Error {}

/** `floor` raises every deadline to at least that time (the restart grace rule, applied while decoding to spare copies). */
export function decodeToken(pool: string, key: TokenKey, value: unknown, floor = -Infinity): TokenRecord {
  // Called once per token at recovery: no closures or intermediate objects on the good path.
  const token = key[1];
  if (key.length !== 2 || key[0] !== pool || typeof token !== "string") throw badToken(key, `not a key of pool "${pool}"`);
  if (!Array.isArray(value) || value.length < 1 || value.length === 3 || value.length === 4 || value.length === 5 || value.length > 8) {
    throw badToken(key, "not a token record");
  }
  const idle: unknown = value[0];
  if (idle !== null && !isTime(idle)) throw badToken(key, "bad idle deadline");
  const idleExpireTime = idle === null ? undefined : Math.max(idle, floor);
  if (value.length === 1) return { token, idleExpireTime, lease: undefined };
  const flags: unknown = value.length === 2 ? value[1] : value.length === 8 ? value[7] : 0;
  if (!isCount(flags) || flags > (FLAG_CORDONED | FLAG_GANG)) throw badToken(key, "bad flags");
  const cordoned = (flags & FLAG_CORDONED) !== 0;
  if (value.length === 2) return { token, idleExpireTime, lease: undefined, cordoned };
  const owner: unknown = value[1];
  const generation: unknown = value[2];
  const leaseTtlMs: unknown = value[3];
  const expireTime: unknown = value[4];
  const requestId: unknown = value[5];
  if (typeof owner !== "string") throw badToken(key, "bad owner");
  if (!isCount(generation) || generation === 0) throw badToken(key, "bad generation");
  if (typeof leaseTtlMs !== "number" || !(leaseTtlMs > 0)) throw badToken(key, "bad lease ttl");
  if (!isTime(expireTime)) throw badToken(key, "bad lease deadline");
  if (requestId !== null && typeof requestId !== "string") throw badToken(key, "bad request id");
  if (value.length === 7 && value[6] !== 1) throw badToken(key, "bad recycle flag");
  if (value.length === 8 && value[6] !== 0 && value[6] !== 1) throw badToken(key, "bad recycle flag");
  const expire = Math.max(expireTime, floor);
  const lease = { owner, generation, leaseTtlMs, expireTime: expire, requestId: requestId ?? undefined };
  const recyclable = value[6] === 1;
  const gang = (flags & FLAG_GANG) !== 0;
  if (!recyclable && !gang && !cordoned) return { token, idleExpireTime, lease };
  return {
    token,
    idleExpireTime,
    lease: { ...lease, ...(recyclable && { recyclable: true }), ...(gang && { gang: true }) },
    ...(cordoned && { cordoned: true }),
  };
}

function badToken(key: TokenKey, why: string): CorruptRecord {
  return new CorruptRecord(`token record "${key.join("/")}": ${why}`);
}

export function encodePool(record: PoolRecord): PoolRecord {
  return { config: record.config, generation: record.generation, sequence: record.sequence };
}

export function decodePool(name: string, value: unknown): PoolRecord {
  const bad = (why: string): CorruptRecord => new CorruptRecord(`pool record "${name}": ${why}`);
  if (typeof value !== "object" || value === null) throw bad("not a pool record");
  const { config, generation, sequence } = value as Partial<Record<keyof PoolRecord, unknown>>;
  if (typeof config !== "object" || config === null) throw bad("missing config");
  const { leaseTtlMs, idleTtlMs, maxTokens, maxLeasesPerOwner = 0 } = config as Partial<Record<keyof PoolConfig, unknown>>;
  if (typeof leaseTtlMs !== "number" || typeof idleTtlMs !== "number" || typeof maxTokens !== "number") throw bad("bad config");
  // Records written before owner quotas have none: no limit.
  if (typeof maxLeasesPerOwner !== "number") throw bad("bad owner quota");
  if (!isCount(generation) || !isCount(sequence)) throw bad("bad generation or sequence mark");
  return { config: { leaseTtlMs, idleTtlMs, maxTokens, maxLeasesPerOwner }, generation, sequence };
}

export function isFormatMarker(value: unknown): value is FormatMarker {
  return typeof value === "object" && value !== null && typeof (value as FormatMarker).name === "string" && typeof (value as FormatMarker).version === "number";
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isTime(v: unknown): v is Millis {
  return typeof v === "number" && Number.isFinite(v);
}
