// A Store backed by the in-process core: owns the clock, the expiry driver, blocked assigns and the
// event hub. With a Persistence it acknowledges mutations only once they are durable (lmdb);
// without one it is the in-memory store.

import { TokenPools } from "../core/token-pools.js";
import type {
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
import type { Clock } from "../runtime/clock.js";
import { EventHub, type EventHubOptions } from "../runtime/event-hub.js";
import { ExpiryDriver, type Expirable } from "../runtime/expiry-driver.js";
import type { Store, StoreAssignOptions, StoreError, StoreKind, StoreObserver, TokenQuery, Watch } from "./store.js";

/** Durability hook: sees every event synchronously, and says when all seen so far are on disk. */
export interface Persistence {
  /** Called for each core event (in order) and after pool create/delete; must not block. */
  record(change: PersistedChange, core: TokenPools): void;
  /** Resolves once everything recorded so far is committed; rejects if the commit failed. */
  flush(): Promise<void>;
  /** Why mutations are refused right now (a failed commit not yet recovered from, shutdown); undefined = writable. */
  writeBlocked(): string | undefined;
  close(): Promise<void>;
}

export type PersistedChange =
  | { readonly kind: "event"; readonly event: LeaseEvent }
  | { readonly kind: "pool-created"; readonly stats: PoolStats }
  | { readonly kind: "pool-updated"; readonly stats: PoolStats }
  | { readonly kind: "pool-deleted"; readonly pool: string };

export type CoreFactory = (onEvent: (e: LeaseEvent) => void) => TokenPools;

export interface LocalStoreOptions {
  readonly kind: StoreKind;
  readonly clock: Clock;
  readonly events: EventHubOptions;
  readonly persistence?: Persistence;
  /** Timers expired per batch before yielding to the event loop. */
  readonly expiryBatch?: number;
  /** A core already rebuilt from storage (recovery); a fresh one otherwise. */
  readonly core?: CoreFactory;
  /** Told how late each expiry ran (commit latency is the persistence's to report). */
  readonly observer?: StoreObserver;
}

type AssignResult = Result<{ lease: Lease; available: number }, StoreError>;
type GrantResult = Result<{ leases: Lease[]; available: number }, StoreError>;

/** One caller blocked in assign or assignMany; retries with the same request id share a core waiter. */
interface BlockedCall {
  readonly settle: (r: GrantResult) => void;
  readonly detach: () => void;
}

/** The callers of one core waiter, and the tokens granted to it so far (a gang gets `count` in one change). */
interface Blocked {
  readonly calls: Set<BlockedCall>;
  readonly count: number;
  readonly tokens: string[];
}

/** Delivers a waiter outcome once the change behind it is durable, or the failure if it never will be. */
type Settlement = (failure: string | undefined) => void;

/** What watchers see, in order; with persistence it waits in the outbox until durable. */
type Outgoing = LeaseEvent | { readonly dropPool: string };

const unavailable = (message: string): { ok: false; error: StoreError } => ({ ok: false, error: { code: "UNAVAILABLE", message } });

export class LocalStore implements Store {
  readonly kind: StoreKind;
  private current: TokenPools;
  private readonly hub: EventHub;
  private readonly driver: ExpiryDriver;
  private readonly blocked = new Map<number, Blocked>();
  /** Waiter outcomes produced by the current operation; delivered once durable. */
  private settlements: Settlement[] = [];
  private readonly clock: Clock;
  private readonly persistence: Persistence | undefined;
  private readonly observer: StoreObserver | undefined;
  /** The `now` of the expiry batch running; expiry events carry their deadline as `time`. */
  private expiringAt = 0;
  private readonly onEventSink = (e: LeaseEvent): void => this.onEvent(e);
  /**
   * Events (and pool drops) not yet durable. Watchers only ever see committed changes, so a sequence
   * or generation a watcher saw can never be issued again after a crash.
   */
  private outbox: Outgoing[] = [];
  /** Items ever put in the outbox, and ever published from it (absolute counts). */
  private recorded = 0;
  private published = 0;
  private closing = false;
  /** Set when state could not be reloaded from storage: nothing in memory can be trusted. */
  private broken: string | undefined;

  constructor(options: LocalStoreOptions) {
    this.kind = options.kind;
    this.clock = options.clock;
    this.persistence = options.persistence;
    this.observer = options.observer;
    this.hub = new EventHub(options.events);
    this.current = options.core ? options.core(this.onEventSink) : new TokenPools({ onEvent: this.onEventSink });
    // While writes are refused, expiries must wait too: they are changes that could not be persisted.
    const expirable: Expirable = {
      nextDeadline: () => (this.writeRefusal() === undefined ? this.current.nextDeadline() : undefined),
      advance: (now, max) => {
        if (this.writeRefusal() !== undefined) return { processed: 0, more: false };
        this.expiringAt = now;
        return this.current.advance(now, max);
      },
    };
    this.driver = new ExpiryDriver(expirable, this.clock, {
      ...(options.expiryBatch !== undefined && { batchSize: options.expiryBatch }),
      afterBatch: () => void this.commit(() => ({ ok: true, value: undefined })),
    });
    for (const pool of this.current.listPools(undefined, Number.MAX_SAFE_INTEGER)) this.hub.seed(pool.name, pool.sequence);
    this.driver.poke();
  }

  /** The live core (replaced wholesale when state is reloaded from storage). */
  get core(): TokenPools {
    return this.current;
  }

  async createPool(name: string, config: Partial<PoolConfig>, initialTokens: number): Promise<Result<PoolStats, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const now = this.clock.now();
    const created = this.current.createPool(name, config, now);
    if (!created.ok) return this.commit(() => created);
    if (initialTokens > created.value.config.maxTokens) {
      this.current.deletePool(name, now);
      return this.commit(() => ({ ok: false, error: { code: "POOL_FULL", pool: name, maxTokens: created.value.config.maxTokens } }));
    }
    this.persistence?.record({ kind: "pool-created", stats: created.value }, this.current);
    if (initialTokens > 0) {
      const generated = this.current.generate(name, { count: initialTokens }, now);
      if (!generated.ok) return this.commit(() => generated);
    }
    return this.commit(() => this.current.getPool(name));
  }

  async getPool(name: string): Promise<Result<PoolStats, StoreError>> {
    return this.read(() => this.current.getPool(name));
  }

  async listPools(afterName: string | undefined, limit: number): Promise<Result<PoolStats[], StoreError>> {
    return this.read(() => ({ ok: true, value: this.current.listPools(afterName, limit) }));
  }

  async deletePool(name: string): Promise<Result<void, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const deleted = this.current.deletePool(name, this.clock.now());
    if (!deleted.ok) return this.commit(() => deleted);
    if (this.persistence) {
      this.outbox.push({ dropPool: name });
      this.recorded++;
      this.persistence.record({ kind: "pool-deleted", pool: name }, this.current);
    } else {
      this.hub.dropPool(name);
    }
    return this.commit(() => deleted);
  }

  async generate(
    pool: string,
    spec: { count: number } | { ids: readonly string[] },
  ): Promise<Result<{ tokens: string[]; available: number }, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const generated = this.current.generate(pool, spec, this.clock.now());
    if (!generated.ok) return this.commit(() => generated);
    return this.commit(() => this.withAvailable(pool, (available) => ({ tokens: generated.value, available })));
  }

  async assign(pool: string, owner: string, options: StoreAssignOptions): Promise<AssignResult> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const now = this.clock.now();
    const waitMs = options.waitMs ?? 0;
    const outcome = this.current.assign(
      pool,
      owner,
      {
        ...(options.leaseTtlMs !== undefined && { leaseTtlMs: options.leaseTtlMs }),
        ...(options.requestId !== undefined && { requestId: options.requestId }),
        ...(options.recyclable === true && { recyclable: true }),
        ...(waitMs > 0 && !options.signal?.aborted && { waitUntil: now + waitMs }),
      },
      now,
    );
    if (!outcome.ok) return this.commit(() => outcome);
    if (outcome.value.kind === "leased") {
      const { lease, available } = outcome.value;
      return this.commit(() => ({ ok: true as const, value: { lease, available } }));
    }
    this.driver.poke();
    const granted = await this.block(outcome.value.waiterId, options.signal, 1);
    return granted.ok ? { ok: true, value: { lease: granted.value.leases[0]!, available: granted.value.available } } : granted;
  }

  async assignMany(pool: string, owner: string, count: number, options: StoreAssignOptions & { maxCount: number }): Promise<GrantResult> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const now = this.clock.now();
    const waitMs = options.waitMs ?? 0;
    const outcome = this.current.assignMany(
      pool,
      owner,
      count,
      options.maxCount,
      {
        ...(options.leaseTtlMs !== undefined && { leaseTtlMs: options.leaseTtlMs }),
        ...(options.requestId !== undefined && { requestId: options.requestId }),
        ...(waitMs > 0 && !options.signal?.aborted && { waitUntil: now + waitMs }),
      },
      now,
    );
    if (!outcome.ok) return this.commit(() => outcome);
    if (outcome.value.kind === "leased") {
      const { leases, available } = outcome.value;
      return this.commit(() => ({ ok: true as const, value: { leases, available } }));
    }
    this.driver.poke();
    return this.block(outcome.value.waiterId, options.signal, count);
  }

  async updatePool(name: string, changes: Partial<PoolConfig>): Promise<Result<PoolStats, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const updated = this.current.updatePool(name, changes, this.clock.now());
    if (updated.ok) this.persistence?.record({ kind: "pool-updated", stats: updated.value }, this.current);
    return this.commit(() => updated);
  }

  async listTokens(pool: string, query: TokenQuery): Promise<Result<TokenPage, StoreError>> {
    const filter: { state?: TokenFilter; owner?: string } = { ...(query.state !== undefined && { state: query.state }), ...(query.owner !== undefined && { owner: query.owner }) };
    return this.read(() => this.current.listTokens(pool, filter, query.after, query.limit));
  }

  async setCordoned(pool: string, token: string, cordoned: boolean): Promise<Result<TokenInfo, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const now = this.clock.now();
    const changed = cordoned ? this.current.cordon(pool, token, now) : this.current.uncordon(pool, token, now);
    return this.commit(() => changed);
  }

  async keepAlive(pool: string, tokens: readonly string[]): Promise<Result<KeepAliveResult[], StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const renewed = this.current.keepAlive(pool, tokens, this.clock.now());
    return this.commit(() => renewed);
  }

  async release(pool: string, token: string, options: ReleaseOptions): Promise<Result<{ available: number }, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const released = this.current.release(pool, token, options, this.clock.now());
    return this.commit(() => released);
  }

  async releaseOldestRecyclable(pool: string): Promise<Result<{ released: string | undefined; available: number }, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const released = this.current.releaseOldestRecyclable(pool, this.clock.now());
    return this.commit(() => released);
  }

  async deleteToken(pool: string, token: string): Promise<Result<void, StoreError>> {
    const refused = this.refuseWrite();
    if (refused) return refused;
    const deleted = this.current.delete(pool, token, this.clock.now());
    return this.commit(() => deleted);
  }

  async getToken(pool: string, token: string): Promise<Result<TokenInfo, StoreError>> {
    return this.read(() => this.current.get(pool, token));
  }

  async watch(pool: string, afterSequence: number | undefined) {
    const exists = await this.read(() => this.current.getPool(pool));
    if (!exists.ok) return exists;
    const sub = this.hub.subscribe(pool, afterSequence);
    if ("code" in sub) return { ok: false as const, error: sub };
    const watch: Watch = sub;
    return { ok: true as const, value: watch };
  }

  async watchAll(): Promise<Result<Watch, StoreError>> {
    return { ok: true, value: this.hub.subscribeAll() };
  }

  /** Not ready while writes are refused (a failed commit not yet recovered from, unreadable state). */
  notReadyReason(): string | undefined {
    return this.writeRefusal();
  }

  watcherCount(): number {
    return this.hub.subscriberCount();
  }

  /**
   * Swaps in a core rebuilt from storage, after a commit failed: memory must not claim what disk does
   * not have. Blocked callers and unpublished events belonged to state that never became durable.
   * If `build` throws, every call fails with UNAVAILABLE from then on.
   */
  replaceCore(build: CoreFactory): void {
    for (const b of this.blocked.values()) settleAll(b.calls, unavailable("storage failed while waiting; retry"));
    this.blocked.clear();
    this.settlements = [];
    this.outbox = [];
    this.published = this.recorded;
    try {
      this.current = build(this.onEventSink);
      this.broken = undefined;
    } catch (e) {
      this.broken = `stored state cannot be read: ${e instanceof Error ? e.message : String(e)}`;
      throw e;
    }
    this.driver.poke();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.driver.stop();
    for (const [id, b] of this.blocked) {
      this.current.cancelWaiter(id);
      settleAll(b.calls, { ok: false, error: { code: "UNAVAILABLE", message: "server is shutting down" } });
    }
    this.blocked.clear();
    this.hub.closeAll();
    await this.persistence?.flush().catch(() => undefined);
    await this.persistence?.close();
  }

  private onEvent(event: LeaseEvent): void {
    // Expiries happen only inside advance(); an expiry event's time is the deadline it enforced.
    if (this.observer && (event.type === "LEASE_EXPIRED" || event.type === "IDLE_EXPIRED")) {
      this.observer.expiryLateness((this.expiringAt - event.time) / 1000);
    }
    if (this.persistence) {
      this.outbox.push(event);
      this.recorded++;
      this.persistence.record({ kind: "event", event }, this.current);
    } else {
      this.hub.publish(event);
    }
    if (event.waiterId === undefined) return;
    const blocked = this.blocked.get(event.waiterId);
    if (!blocked) return;
    const calls = blocked.calls;
    if (event.type === "ASSIGNED") {
      // A gang's `count` grants arrive in one core call, one event each.
      blocked.tokens.push(event.token);
      if (blocked.tokens.length < blocked.count) return;
      this.blocked.delete(event.waiterId);
      const leases = blocked.tokens.map((t) => this.current.get(event.pool, t));
      this.settlements.push((failure) => {
        if (failure !== undefined) return settleAll(calls, unavailable(failure));
        const held = leases.flatMap((t) => (t.ok && t.value.lease ? [t.value.lease] : []));
        // A granted token is held when its event fires; anything else is a core bug worth surfacing.
        const result: GrantResult =
          held.length === leases.length
            ? this.withAvailable(event.pool, (available) => ({ leases: held, available }))
            : { ok: false, error: { code: "UNAVAILABLE", message: "granted lease vanished" } };
        settleAll(calls, result);
      });
    } else {
      this.blocked.delete(event.waiterId);
      this.settlements.push((failure) => {
        if (failure !== undefined) return settleAll(calls, unavailable(failure));
        const poolGone = !this.current.getPool(event.pool).ok;
        settleAll(calls, {
          ok: false,
          error: poolGone ? { code: "POOL_NOT_FOUND", pool: event.pool } : { code: "WAIT_TIMEOUT", pool: event.pool },
        });
      });
    }
  }

  private block(waiterId: number, signal: AbortSignal | undefined, count: number): Promise<GrantResult> {
    return new Promise<GrantResult>((resolve) => {
      let blocked = this.blocked.get(waiterId);
      if (!blocked) {
        blocked = { calls: new Set(), count, tokens: [] };
        this.blocked.set(waiterId, blocked);
      }
      const calls = blocked.calls;
      const onAbort = (): void => {
        const current = this.blocked.get(waiterId);
        if (!current?.calls.delete(call)) return;
        // The core waiter goes only when no caller is left on it.
        if (current.calls.size === 0) {
          this.blocked.delete(waiterId);
          this.current.cancelWaiter(waiterId, this.clock.now());
        }
        resolve({ ok: false, error: { code: "CANCELLED" } });
      };
      const call: BlockedCall = { settle: resolve, detach: () => signal?.removeEventListener("abort", onAbort) };
      calls.add(call);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private withAvailable<T>(pool: string, build: (available: number) => T): Result<T, StoreError> {
    const stats = this.current.getPool(pool);
    return stats.ok ? { ok: true, value: build(stats.value.available) } : stats;
  }

  private writeRefusal(): string | undefined {
    if (this.broken !== undefined) return this.broken;
    if (!this.persistence) return undefined;
    // Once the store is closing, the environment may be gone before a late write could commit.
    return this.closing ? "server is shutting down" : this.persistence.writeBlocked();
  }

  /** Mutations are refused up front, before the core changes, so nothing is half-applied. */
  private refuseWrite(): { ok: false; error: StoreError } | undefined {
    const why = this.writeRefusal();
    return why === undefined ? undefined : unavailable(why);
  }

  /**
   * Answers a read once the state it saw is durable, so no reader sees a change a crash could undo.
   * If that commit fails, the state was reloaded from disk and the read is answered from there.
   */
  private async read<T>(look: () => Result<T, StoreError>): Promise<Result<T, StoreError>> {
    if (this.broken !== undefined) return unavailable(this.broken);
    const result = look();
    if (!this.persistence) return result;
    try {
      await this.persistence.flush();
      return result;
    } catch {
      return this.broken !== undefined ? unavailable(this.broken) : look();
    }
  }

  /**
   * Ends a mutation (or a refusal that reflects current state): re-arms expiry, waits for durability
   * (group commit: every mutation of the same turn shares one flush), then publishes the events it
   * covers and delivers the answer and any waiter outcomes it caused.
   */
  private async commit<T>(answer: () => Result<T, StoreError>): Promise<Result<T, StoreError>> {
    this.driver.poke();
    const settlements = this.settlements;
    this.settlements = [];
    const result = answer();
    if (!this.persistence) {
      for (const s of settlements) s(undefined);
      return result;
    }
    const mark = this.recorded;
    try {
      await this.persistence.flush();
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      for (const s of settlements) s(message);
      return unavailable(message);
    }
    this.publishUpTo(mark);
    for (const s of settlements) s(undefined);
    return result;
  }

  private publishUpTo(mark: number): void {
    const n = mark - this.published;
    if (n <= 0) return;
    const items = n === this.outbox.length ? this.outbox : this.outbox.slice(0, n);
    this.outbox = n === this.outbox.length ? [] : this.outbox.slice(n);
    this.published = mark;
    for (const item of items) {
      if ("dropPool" in item) this.hub.dropPool(item.dropPool);
      else this.hub.publish(item);
    }
  }
}

function settleAll(calls: Set<BlockedCall>, result: GrantResult): void {
  for (const call of calls) {
    call.detach();
    call.settle(result);
  }
}
