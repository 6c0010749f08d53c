// Decodes the JSON the Lua scripts reply and append to event streams into the core's value types.

import { LEASE_EVENT_TYPES, type KeepAliveResult, type Lease, type LeaseEvent, type LeaseEventType, type PoolStats, type TokenInfo } from "../../core/types.js";

export type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === "number" ? v : Number(v ?? 0));
const optNum = (v: unknown): number | undefined => (v === undefined || v === null ? undefined : num(v));
const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
/** cjson encodes an empty Lua table as {}: an empty list may arrive as an object. */
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function leaseOf(pool: string, v: unknown): Lease {
  const l = obj(v);
  const requestId = str(l.r);
  return {
    pool,
    token: str(l.k),
    owner: str(l.o),
    generation: num(l.g),
    leaseTtlMs: num(l.lt),
    expireTime: num(l.x),
    idleExpireTime: optNum(l.ix),
    requestId: requestId === "" ? undefined : requestId,
    ...(l.rc === 1 && { recyclable: true }),
  };
}

export function statsOf(name: string, v: unknown): PoolStats {
  const s = obj(v);
  return {
    name,
    config: { leaseTtlMs: num(s.leaseTtl), idleTtlMs: num(s.idleTtl), maxTokens: num(s.maxTokens), maxLeasesPerOwner: num(s.quota) },
    total: num(s.total),
    available: num(s.available),
    held: num(s.held),
    waiters: num(s.waiters),
    cordoned: num(s.cordoned),
    generation: num(s.generation),
    sequence: num(s.sequence),
  };
}

/** A token as GET_TOKEN, LIST_TOKENS and SET_CORDON reply it: {k, ix, lease, cd}. */
export function tokenInfoOf(pool: string, v: unknown): TokenInfo {
  const t = obj(v);
  const lease = t.lease ? leaseOf(pool, t.lease) : undefined;
  return { pool, token: str(t.k), state: lease ? "held" : "free", idleExpireTime: optNum(t.ix), lease, cordoned: t.cd === true };
}

export function keepAliveResultsOf(pool: string, v: unknown): KeepAliveResult[] {
  return list(v).map((item) => {
    const r = obj(item);
    if (r.missing) return { token: str(r.k), status: "not_found", idleExpireTime: undefined, lease: undefined };
    return { token: str(r.k), status: "ok", idleExpireTime: optNum(r.ix), lease: r.lease ? leaseOf(pool, r.lease) : undefined };
  });
}

/** One stream entry: a lease event, or the tombstone written when the pool is deleted. */
export type StreamEntry =
  | {
      readonly kind: "event";
      readonly event: LeaseEvent;
      /** On ASSIGNED to a waiter: the lease as the waiter's caller gets it, and the free count. */
      readonly granted: { readonly lease: Lease; readonly available: number } | undefined;
      /** On WAITER_TIMED_OUT: the waiter ended because its pool was deleted. */
      readonly poolDeleted: boolean;
    }
  | { readonly kind: "pool-deleted"; readonly sequence: number };

const EVENT_TYPES: ReadonlySet<string> = new Set(LEASE_EVENT_TYPES);

export function streamEntryOf(pool: string, raw: string): StreamEntry {
  const e = obj(JSON.parse(raw));
  const type = str(e.t);
  if (type === "POOL_DELETED") return { kind: "pool-deleted", sequence: num(e.s) };
  if (!EVENT_TYPES.has(type)) throw new Error(`unknown event type ${type} in the stream of pool ${pool}`);
  const event: LeaseEvent = {
    sequence: num(e.s),
    type: type as LeaseEventType,
    pool,
    token: str(e.k),
    owner: str(e.o),
    generation: num(e.g),
    time: num(e.tm),
    expireTime: optNum(e.x),
    idleExpireTime: optNum(e.ix),
    waiterId: optNum(e.w),
  };
  const granted =
    type === "ASSIGNED" && e.w !== undefined
      ? {
          lease: leaseOf(pool, { k: e.k, o: e.o, g: e.g, lt: e.lt, x: e.x, ix: e.ix, r: e.r }),
          available: num(e.av),
        }
      : undefined;
  return { kind: "event", event, granted, poolDeleted: e.del !== undefined };
}
