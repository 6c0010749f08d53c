// The core's public vocabulary: pool configs, leases, events and error values.
// Everything here is plain data so transport and storage can translate it without knowing the internals.

/** Wall-clock milliseconds since the Unix epoch, always supplied by the caller (the core never reads a clock). */
export type Millis = number;

export interface PoolConfig {
  /** Lease length granted by assign and extended by keep-alive. */
  readonly leaseTtlMs: number;
  /** A token with no keep-alive for this long is deleted from the pool; 0 = never. */
  readonly idleTtlMs: number;
  /** Upper bound on the number of tokens in the pool. */
  readonly maxTokens: number;
  /** Leases one owner may hold at once, tokens its waiting requests asked for included; 0 = no limit. */
  readonly maxLeasesPerOwner: number;
}

export interface Lease {
  readonly pool: string;
  readonly token: string;
  readonly owner: string;
  /** Fencing token: per-pool, strictly increasing across every assign of the pool. */
  readonly generation: number;
  readonly leaseTtlMs: number;
  readonly expireTime: Millis;
  /** Undefined when the pool's idle TTL is 0 (tokens never go idle). */
  readonly idleExpireTime: Millis | undefined;
  readonly requestId: string | undefined;
  /** On its pool's recycle queue (assigned with `recyclable`): releaseOldestRecyclable may end it. */
  readonly recyclable?: boolean;
  /** One lease of a gang whose requestId names the whole gang (persisted so a retry after restart finds it). */
  readonly gang?: boolean;
}

export type TokenState = "free" | "held";

export interface TokenInfo {
  readonly pool: string;
  readonly token: string;
  readonly state: TokenState;
  readonly idleExpireTime: Millis | undefined;
  /** Present only while the token is held. */
  readonly lease: Lease | undefined;
  /** Taken out of service: not assignable whatever its state; a lease on it runs on. */
  readonly cordoned: boolean;
}

/** ListTokens filters: free = assignable (free, not cordoned), held (cordoned or not), cordoned (free or held). */
export type TokenFilter = "free" | "held" | "cordoned";

export interface TokenPage {
  readonly tokens: TokenInfo[];
  /** The id to continue after; undefined on the last page. */
  readonly next: string | undefined;
}

export interface PoolStats {
  readonly name: string;
  readonly config: PoolConfig;
  readonly total: number;
  readonly available: number;
  readonly held: number;
  readonly waiters: number;
  /** Cordoned tokens, free or held (free ones are not counted in `available`). */
  readonly cordoned: number;
  /** Last fencing generation issued in this pool (0 before the first assign). */
  readonly generation: number;
  /** Sequence of the last event emitted for this pool (0 before the first). */
  readonly sequence: number;
}

/** Every kind of lease event, listed once (what a stored or replayed event's type is checked against). */
export const LEASE_EVENT_TYPES = [
  "GENERATED",
  "ASSIGNED",
  "RENEWED",
  "RELEASED",
  "LEASE_EXPIRED",
  "IDLE_EXPIRED",
  "DELETED",
  "WAITER_TIMED_OUT",
  "TOKEN_CORDONED",
  "TOKEN_UNCORDONED",
] as const;

export type LeaseEventType = (typeof LEASE_EVENT_TYPES)[number];

export interface LeaseEvent {
  /** Per-pool, strictly increasing by one for every event of that pool. */
  readonly sequence: number;
  readonly type: LeaseEventType;
  readonly pool: string;
  /** Empty for WAITER_TIMED_OUT. */
  readonly token: string;
  /** The lease holder (or the waiter, for WAITER_TIMED_OUT); empty when no holder is involved. */
  readonly owner: string;
  /** Generation of the lease concerned; 0 when none. */
  readonly generation: number;
  /** When the change happened (the `now` of the call, or the deadline for expiries). */
  readonly time: Millis;
  /** Lease deadline after the change, when the token is held. */
  readonly expireTime: Millis | undefined;
  /** Idle deadline after the change, when the token has one. */
  readonly idleExpireTime: Millis | undefined;
  /** Set on ASSIGNED when the lease went to a blocked waiter, and on WAITER_TIMED_OUT. */
  readonly waiterId: number | undefined;
}

/** Errors are values: every fallible core operation returns one of these instead of throwing. */
export type CoreError =
  | { readonly code: "INVALID_ARGUMENT"; readonly field: string; readonly message: string }
  | { readonly code: "POOL_NOT_FOUND"; readonly pool: string }
  | { readonly code: "POOL_EXISTS"; readonly pool: string }
  | { readonly code: "TOO_MANY_POOLS"; readonly limit: number }
  /** No free token; `waiters` blocked assigns are queued and take freed tokens first (FIFO). */
  | { readonly code: "POOL_EXHAUSTED"; readonly pool: string; readonly waiters: number }
  | { readonly code: "POOL_FULL"; readonly pool: string; readonly maxTokens: number }
  | {
      readonly code: "OWNER_QUOTA_EXCEEDED";
      readonly pool: string;
      readonly owner: string;
      readonly limit: number;
      /** Leases the owner holds plus tokens its waiting requests asked for. */
      readonly used: number;
      readonly requested: number;
    }
  | { readonly code: "TOKEN_NOT_FOUND"; readonly pool: string; readonly token: string }
  | { readonly code: "TOKEN_EXISTS"; readonly pool: string; readonly token: string }
  | { readonly code: "NOT_HELD"; readonly pool: string; readonly token: string }
  | {
      readonly code: "LEASE_MISMATCH";
      readonly pool: string;
      readonly token: string;
      readonly message: string;
    };

export type CoreErrorCode = CoreError["code"];

export type Result<T, E = CoreError> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });

export interface AssignOptions {
  /** Overrides the pool's lease TTL for this lease (and its keep-alives). */
  readonly leaseTtlMs?: number;
  /** Idempotency key: the same owner + requestId while the lease lives gets the same lease back. */
  readonly requestId?: string;
  /** When set and no token is free, queue FIFO until this time instead of failing. */
  readonly waitUntil?: Millis;
  /**
   * Puts the lease on its pool's recycle queue, so releaseOldestRecyclable can end it without being
   * told the token (the legacy /recycle_token, which names none).
   */
  readonly recyclable?: boolean;
}

export type AssignManyOutcome =
  | { readonly kind: "leased"; readonly leases: Lease[]; readonly available: number }
  | { readonly kind: "waiting"; readonly waiterId: number };

export type AssignOutcome =
  | { readonly kind: "leased"; readonly lease: Lease; readonly available: number }
  | { readonly kind: "waiting"; readonly waiterId: number };

export interface ReleaseOptions {
  readonly generation?: number;
  readonly owner?: string;
}

export type KeepAliveStatus = "ok" | "not_found";

export interface KeepAliveResult {
  readonly token: string;
  readonly status: KeepAliveStatus;
  readonly idleExpireTime: Millis | undefined;
  /** The extended lease, when the token is held. */
  readonly lease: Lease | undefined;
}

/** A token as persisted by a store and handed back on recovery. */
export interface TokenRecord {
  readonly token: string;
  readonly idleExpireTime: Millis | undefined;
  /** Present when the token was held. */
  readonly lease:
    | {
        readonly owner: string;
        readonly generation: number;
        readonly leaseTtlMs: number;
        readonly expireTime: Millis;
        readonly requestId: string | undefined;
        readonly recyclable?: boolean;
        /** One lease of a gang (AssignTokens): its requestId names the whole gang. */
        readonly gang?: boolean;
      }
    | undefined;
  readonly cordoned?: boolean;
}

export interface AdvanceResult {
  /** Timers processed in this call. */
  readonly processed: number;
  /** True when more timers are already due: call advance again (after yielding). */
  readonly more: boolean;
}
