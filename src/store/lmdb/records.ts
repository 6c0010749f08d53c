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

/** Tokens are many, so their values are positional: [idle] when free, [idle, owner, generation, ttl, expire, requestId] when held. */
export type TokenValue = [number | null] | [number | null, string, number, number, number, string | null];

export function encodeToken(info: TokenInfo): TokenValue {
  const idle = info.idleExpireTime ?? null;
  const lease = info.lease;
  if (!lease) return [idle];
  return [idle, lease.owner, lease.generation, lease.leaseTtlMs, lease.expireTime, lease.requestId ?? null];
}

export class CorruptRecord extends Error {}

/** `floor` raises every deadline to at least that time (the restart grace rule, applied while decoding to spare copies). */
export function decodeToken(pool: string, key: TokenKey, value: unknown, floor = -Infinity): TokenRecord {
  const token = key[1];
  const bad = (why: string): CorruptRecord => new CorruptRecord(`token record "${key.join("/")}": ${why}`);
  if (key.length !== 2 || key[0] !== pool || typeof token !== "string") throw bad(`not a key of pool "${pool}"`);
  if (!Array.isArray(value) || (value.length !== 1 && value.length !== 6)) throw bad("not a token record");
  const idle = deadline(value[0], true);
  if (idle === null) throw bad("bad idle deadline");
  const idleAtLeast = idle === undefined ? undefined : Math.max(idle, floor);
  if (value.length === 1) return { token, idleExpireTime: idleAtLeast, lease: undefined };
  const [, owner, generation, leaseTtlMs, expireTime, requestId] = value as unknown[];
  if (typeof owner !== "string") throw bad("bad owner");
  if (!isCount(generation) || generation === 0) throw bad("bad generation");
  if (typeof leaseTtlMs !== "number" || !(leaseTtlMs > 0)) throw bad("bad lease ttl");
  const expire = deadline(expireTime, false);
  if (expire === null || expire === undefined) throw bad("bad lease deadline");
  if (requestId !== null && typeof requestId !== "string") throw bad("bad request id");
  return {
    token,
    idleExpireTime: idleAtLeast,
    lease: { owner, generation, leaseTtlMs, expireTime: Math.max(expire, floor), requestId: requestId ?? undefined },
  };
}

export function encodePool(record: PoolRecord): PoolRecord {
  return { config: record.config, generation: record.generation, sequence: record.sequence };
}

export function decodePool(name: string, value: unknown): PoolRecord {
  const bad = (why: string): CorruptRecord => new CorruptRecord(`pool record "${name}": ${why}`);
  if (typeof value !== "object" || value === null) throw bad("not a pool record");
  const { config, generation, sequence } = value as Partial<Record<keyof PoolRecord, unknown>>;
  if (typeof config !== "object" || config === null) throw bad("missing config");
  const { leaseTtlMs, idleTtlMs, maxTokens } = config as Partial<Record<keyof PoolConfig, unknown>>;
  if (typeof leaseTtlMs !== "number" || typeof idleTtlMs !== "number" || typeof maxTokens !== "number") throw bad("bad config");
  if (!isCount(generation) || !isCount(sequence)) throw bad("bad generation or sequence mark");
  return { config: { leaseTtlMs, idleTtlMs, maxTokens }, generation, sequence };
}

export function isFormatMarker(value: unknown): value is FormatMarker {
  return typeof value === "object" && value !== null && typeof (value as FormatMarker).name === "string" && typeof (value as FormatMarker).version === "number";
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** undefined = no deadline (stored as null, allowed only where `optional`); null = malformed. */
function deadline(v: unknown, optional: boolean): Millis | undefined | null {
  if (v === null) return optional ? undefined : null;
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
