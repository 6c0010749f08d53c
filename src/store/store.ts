// The one seam every backend implements (memory, lmdb, redis): asynchronous pool operations that
// return error values, plus the lease-event watch. Transport talks only to this interface.

import type {
  CoreError,
  KeepAliveResult,
  Lease,
  LeaseEvent,
  PoolConfig,
  PoolStats,
  ReleaseOptions,
  Result,
  TokenFilter,
  TokenInfo,
  TokenPage,
} from "../core/types.js";
import type { WatchEnd } from "../runtime/event-hub.js";

export type StoreKind = "memory" | "lmdb" | "redis";

/** Failures that come from the backend or the call, not from pool rules. */
export type StoreError =
  | CoreError
  | { readonly code: "UNAVAILABLE"; readonly message: string }
  | { readonly code: "CANCELLED" }
  | { readonly code: "WAIT_TIMEOUT"; readonly pool: string };

/** A ListTokens page request: filters, the id to continue after, the page size. */
export interface TokenQuery {
  readonly state?: TokenFilter;
  readonly owner?: string;
  readonly after?: string;
  readonly limit: number;
}

export interface StoreAssignOptions {
  readonly leaseTtlMs?: number;
  readonly requestId?: string;
  /** Wait up to this long for a free token (FIFO) instead of failing with POOL_EXHAUSTED. */
  readonly waitMs?: number;
  /** Aborts a waiting assign (client cancelled or deadline passed). */
  readonly signal?: AbortSignal;
  /** Puts the lease on the pool's recycle queue (see releaseOldestRecyclable). */
  readonly recyclable?: boolean;
}

/**
 * What a store reports about itself for metrics, as plain callbacks: stores stay free of any metrics
 * library, and a store without an observer reports nothing.
 */
export interface StoreObserver {
  /** One storage commit took this long: an lmdb group-commit transaction, or one Redis write script. */
  commit(seconds: number): void;
  /** A lease or an idle token expired this long after its deadline. */
  expiryLateness(seconds: number): void;
  /** Blocked assigns dropped because their replica stopped renewing its liveness (Redis). */
  waitersOrphaned?(count: number): void;
}

export interface Watch extends AsyncIterable<LeaseEvent> {
  /** Why the stream ended, once it has; undefined for a clean end. */
  readonly endReason: WatchEnd | undefined;
  /** Runs `listener` once, as soon as the watch ends (at once if it has). */
  onEnd(listener: (reason: WatchEnd | undefined) => void): void;
  end(): void;
}

export interface Store {
  readonly kind: StoreKind;
  createPool(name: string, config: Partial<PoolConfig>, initialTokens: number): Promise<Result<PoolStats, StoreError>>;
  getPool(name: string): Promise<Result<PoolStats, StoreError>>;
  /** Pools with names after `afterName`, in name order. */
  listPools(afterName: string | undefined, limit: number): Promise<Result<PoolStats[], StoreError>>;
  deletePool(name: string): Promise<Result<void, StoreError>>;
  /** Changes a pool's config; new values apply to leases and deadlines set from now on. */
  updatePool(name: string, changes: Partial<PoolConfig>): Promise<Result<PoolStats, StoreError>>;
  generate(
    pool: string,
    spec: { count: number } | { ids: readonly string[] },
  ): Promise<Result<{ tokens: string[]; available: number }, StoreError>>;
  assign(
    pool: string,
    owner: string,
    options: StoreAssignOptions,
  ): Promise<Result<{ lease: Lease; available: number }, StoreError>>;
  /**
   * `count` leases at once or none (a gang); with waitMs it waits FIFO among gangs (the rule in
   * core/token-pools.ts). `maxCount` is the batch limit.
   */
  assignMany(
    pool: string,
    owner: string,
    count: number,
    options: StoreAssignOptions & { readonly maxCount: number },
  ): Promise<Result<{ leases: Lease[]; available: number }, StoreError>>;
  keepAlive(pool: string, tokens: readonly string[]): Promise<Result<KeepAliveResult[], StoreError>>;
  release(pool: string, token: string, options: ReleaseOptions): Promise<Result<{ available: number }, StoreError>>;
  /**
   * Releases the oldest lease still held on the pool's recycle queue (leases assigned with
   * `recyclable`), whichever replica assigned it; `released` is the token, or undefined when none is.
   */
  releaseOldestRecyclable(pool: string): Promise<Result<{ released: string | undefined; available: number }, StoreError>>;
  deleteToken(pool: string, token: string): Promise<Result<void, StoreError>>;
  getToken(pool: string, token: string): Promise<Result<TokenInfo, StoreError>>;
  /** A page of the pool's tokens in id order (O(page)); see TokenPools.listTokens. */
  listTokens(pool: string, query: TokenQuery): Promise<Result<TokenPage, StoreError>>;
  /** Cordons (true) or uncordons a token; idempotent. Returns the token after the change. */
  setCordoned(pool: string, token: string, cordoned: boolean): Promise<Result<TokenInfo, StoreError>>;
  /** Replays retained events after `afterSequence` (undefined = live only), then streams live ones. */
  watch(pool: string, afterSequence: number | undefined): Promise<Result<Watch, StoreError | WatchEnd>>;
  /** Live events of every pool, including pools created after the watch started; no resume. */
  watchAll(): Promise<Result<Watch, StoreError>>;
  /** Why the backend cannot serve calls right now (Redis unreachable, lmdb refusing writes); undefined = ready. */
  notReadyReason?(): string | undefined;
  /** Stops timers and ends watches; pending writes are flushed. */
  close(): Promise<void>;
}
