// Stands in for the store while it opens (an lmdb recovery can take seconds, Redis may be slow to
// answer): the server listens at once, every call gets UNAVAILABLE with the reason, then it forwards.

import type { KeepAliveResult, Lease, PoolConfig, PoolStats, ReleaseOptions, Result, TokenInfo, TokenPage } from "../core/types.js";
import type { WatchEnd } from "../runtime/event-hub.js";
import type { Store, StoreAssignOptions, StoreError, StoreKind, TokenQuery, Watch } from "./store.js";

type Answer<T> = Promise<Result<T, StoreError>>;

export class DeferredStore implements Store {
  private target: Store | undefined;

  constructor(
    readonly kind: StoreKind,
    /** Why calls are refused until attach(), e.g. "recovering stored state from ./data". */
    private readonly opening: string,
  ) {}

  /** From now on every call goes to `store`. */
  attach(store: Store): void {
    this.target = store;
  }

  notReadyReason(): string | undefined {
    if (!this.target) return this.opening;
    return this.target.notReadyReason?.();
  }

  createPool(name: string, config: Partial<PoolConfig>, initialTokens: number): Answer<PoolStats> {
    return this.target ? this.target.createPool(name, config, initialTokens) : this.refuse();
  }

  getPool(name: string): Answer<PoolStats> {
    return this.target ? this.target.getPool(name) : this.refuse();
  }

  listPools(afterName: string | undefined, limit: number): Answer<PoolStats[]> {
    return this.target ? this.target.listPools(afterName, limit) : this.refuse();
  }

  deletePool(name: string): Answer<void> {
    return this.target ? this.target.deletePool(name) : this.refuse();
  }

  generate(pool: string, spec: { count: number } | { ids: readonly string[] }): Answer<{ tokens: string[]; available: number }> {
    return this.target ? this.target.generate(pool, spec) : this.refuse();
  }

  assign(pool: string, owner: string, options: StoreAssignOptions): Answer<{ lease: Lease; available: number }> {
    return this.target ? this.target.assign(pool, owner, options) : this.refuse();
  }

  updatePool(name: string, changes: Partial<PoolConfig>): Answer<PoolStats> {
    return this.target ? this.target.updatePool(name, changes) : this.refuse();
  }

  assignMany(pool: string, owner: string, count: number, options: StoreAssignOptions & { readonly maxCount: number }): Answer<{ leases: Lease[]; available: number }> {
    return this.target ? this.target.assignMany(pool, owner, count, options) : this.refuse();
  }

  listTokens(pool: string, query: TokenQuery): Answer<TokenPage> {
    return this.target ? this.target.listTokens(pool, query) : this.refuse();
  }

  setCordoned(pool: string, token: string, cordoned: boolean): Answer<TokenInfo> {
    return this.target ? this.target.setCordoned(pool, token, cordoned) : this.refuse();
  }

  keepAlive(pool: string, tokens: readonly string[]): Answer<KeepAliveResult[]> {
    return this.target ? this.target.keepAlive(pool, tokens) : this.refuse();
  }

  release(pool: string, token: string, options: ReleaseOptions): Answer<{ available: number }> {
    return this.target ? this.target.release(pool, token, options) : this.refuse();
  }

  releaseOldestRecyclable(pool: string): Answer<{ released: string | undefined; available: number }> {
    return this.target ? this.target.releaseOldestRecyclable(pool) : this.refuse();
  }

  deleteToken(pool: string, token: string): Answer<void> {
    return this.target ? this.target.deleteToken(pool, token) : this.refuse();
  }

  getToken(pool: string, token: string): Answer<TokenInfo> {
    return this.target ? this.target.getToken(pool, token) : this.refuse();
  }

  watch(pool: string, afterSequence: number | undefined): Promise<Result<Watch, StoreError | WatchEnd>> {
    return this.target ? this.target.watch(pool, afterSequence) : this.refuse();
  }

  watchAll(): Promise<Result<Watch, StoreError>> {
    return this.target ? this.target.watchAll() : this.refuse();
  }

  async close(): Promise<void> {
    await this.target?.close();
  }

  private async refuse(): Promise<{ ok: false; error: StoreError }> {
    return { ok: false, error: { code: "UNAVAILABLE", message: `not ready: ${this.opening}; retry shortly` } };
  }
}
