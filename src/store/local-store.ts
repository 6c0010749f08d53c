// A Store backed by the in-process core: owns the clock, the expiry driver, blocked assigns and the
// event hub. With a Persistence it acknowledges mutations only once they are durable (lmdb);
// without one it is the in-memory store.

import { TokenPools } from "../core/token-pools.js";
import type { Lease, LeaseEvent, PoolConfig, PoolStats, Result } from "../core/types.js";
import type { Clock } from "../runtime/clock.js";
import { EventHub, type EventHubOptions } from "../runtime/event-hub.js";
import { ExpiryDriver } from "../runtime/expiry-driver.js";
import type { Store, StoreAssignOptions, StoreError, StoreKind, Watch } from "./store.js";

/** Durability hook: sees every event synchronously, and says when all seen so far are on disk. */
export interface Persistence {
  /** Called for each core event (in order) and after pool create/delete; must not block. */
  record(change: PersistedChange, core: TokenPools): void;
  /** Resolves once everything recorded so far is committed; rejects if the commit failed. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export type PersistedChange =
  | { readonly kind: "event"; readonly event: LeaseEvent }
  | { readonly kind: "pool-created"; readonly stats: PoolStats }
  | { readonly kind: "pool-deleted"; readonly pool: string };

export interface LocalStoreOptions {
  readonly kind: StoreKind;
  readonly clock: Clock;
  readonly events: EventHubOptions;
  readonly persistence?: Persistence;
  /** Timers expired per batch before yielding to the event loop. */
  readonly expiryBatch?: number;
  /** A core already rebuilt from storage (recovery); a fresh one otherwise. */
  readonly core?: (onEvent: (e: LeaseEvent) => void) => TokenPools;
}

type AssignResult = Result<{ lease: Lease; available: number }, StoreError>;

/** One caller blocked in assign; retries with the same request id share a core waiter. */
interface BlockedCall {
  readonly settle: (r: AssignResult) => void;
  readonly detach: () => void;
}

type Settlement = () => void;

export class LocalStore implements Store {
  readonly kind: StoreKind;
  readonly core: TokenPools;
  private readonly hub: EventHub;
  private readonly driver: ExpiryDriver;
  private readonly blocked = new Map<number, Set<BlockedCall>>();
  /** Waiter outcomes produced by the current operation; delivered once durable. */
  private settlements: Settlement[] = [];
  private readonly clock: Clock;
  private readonly persistence: Persistence | undefined;

  constructor(options: LocalStoreOptions) {
    this.kind = options.kind;
    this.clock = options.clock;
    this.persistence = options.persistence;
    this.hub = new EventHub(options.events);
    const onEvent = (e: LeaseEvent): void => this.onEvent(e);
    this.core = options.core ? options.core(onEvent) : new TokenPools({ onEvent });
    this.driver = new ExpiryDriver(this.core, this.clock, {
      ...(options.expiryBatch !== undefined && { batchSize: options.expiryBatch }),
      afterBatch: () => void this.commit(),
    });
    for (const pool of this.core.listPools(undefined, Number.MAX_SAFE_INTEGER)) this.hub.seed(pool.name, pool.sequence);
    this.driver.poke();
  }

  async createPool(name: string, config: Partial<PoolConfig>, initialTokens: number): Promise<Result<PoolStats, StoreError>> {
    const now = this.clock.now();
    const created = this.core.createPool(name, config, now);
    if (!created.ok) return created;
    if (initialTokens > created.value.config.maxTokens) {
      this.core.deletePool(name, now);
      return { ok: false, error: { code: "POOL_FULL", pool: name, maxTokens: created.value.config.maxTokens } };
    }
    this.persistence?.record({ kind: "pool-created", stats: created.value }, this.core);
    if (initialTokens > 0) {
      const generated = this.core.generate(name, { count: initialTokens }, now);
      if (!generated.ok) return generated;
    }
    return this.commit(() => this.core.getPool(name));
  }

  async getPool(name: string): Promise<Result<PoolStats, StoreError>> {
    return this.core.getPool(name);
  }

  async listPools(afterName: string | undefined, limit: number): Promise<Result<PoolStats[], StoreError>> {
    return { ok: true, value: this.core.listPools(afterName, limit) };
  }

  async deletePool(name: string): Promise<Result<void, StoreError>> {
    const deleted = this.core.deletePool(name, this.clock.now());
    if (!deleted.ok) return deleted;
    this.hub.dropPool(name);
    this.persistence?.record({ kind: "pool-deleted", pool: name }, this.core);
    return this.commit(() => deleted);
  }

  async generate(pool: string, spec: { count: number } | { ids: readonly string[] }) {
    const generated = this.core.generate(pool, spec, this.clock.now());
    if (!generated.ok) return generated;
    return this.commit(() => this.withAvailable(pool, (available) => ({ tokens: generated.value, available })));
  }

  async assign(pool: string, owner: string, options: StoreAssignOptions) {
    const now = this.clock.now();
    const waitMs = options.waitMs ?? 0;
    const outcome = this.core.assign(
      pool,
      owner,
      {
        ...(options.leaseTtlMs !== undefined && { leaseTtlMs: options.leaseTtlMs }),
        ...(options.requestId !== undefined && { requestId: options.requestId }),
        ...(waitMs > 0 && !options.signal?.aborted && { waitUntil: now + waitMs }),
      },
      now,
    );
    if (!outcome.ok) return outcome;
    if (outcome.value.kind === "leased") {
      const { lease, available } = outcome.value;
      return this.commit(() => ({ ok: true as const, value: { lease, available } }));
    }
    this.driver.poke();
    return this.block(outcome.value.waiterId, options.signal);
  }

  async keepAlive(pool: string, tokens: readonly string[]) {
    const renewed = this.core.keepAlive(pool, tokens, this.clock.now());
    if (!renewed.ok) return renewed;
    return this.commit(() => renewed);
  }

  async release(pool: string, token: string, options: { generation?: number; owner?: string }) {
    const released = this.core.release(pool, token, options, this.clock.now());
    if (!released.ok) return released;
    return this.commit(() => released);
  }

  async deleteToken(pool: string, token: string): Promise<Result<void, StoreError>> {
    const deleted = this.core.delete(pool, token, this.clock.now());
    if (!deleted.ok) return deleted;
    return this.commit(() => deleted);
  }

  async getToken(pool: string, token: string) {
    return this.core.get(pool, token);
  }

  async watch(pool: string, afterSequence: number) {
    const exists = this.core.getPool(pool);
    if (!exists.ok) return exists;
    const sub = this.hub.subscribe(pool, afterSequence);
    if ("code" in sub) return { ok: false as const, error: sub };
    const watch: Watch = sub;
    return { ok: true as const, value: watch };
  }

  watcherCount(): number {
    return this.hub.subscriberCount();
  }

  async close(): Promise<void> {
    this.driver.stop();
    for (const [id, calls] of this.blocked) {
      this.core.cancelWaiter(id);
      settleAll(calls, { ok: false, error: { code: "UNAVAILABLE", message: "server is shutting down" } });
    }
    this.blocked.clear();
    this.hub.closeAll();
    await this.persistence?.flush().catch(() => undefined);
    await this.persistence?.close();
  }

  private onEvent(event: LeaseEvent): void {
    this.hub.publish(event);
    this.persistence?.record({ kind: "event", event }, this.core);
    if (event.waiterId === undefined) return;
    const calls = this.blocked.get(event.waiterId);
    if (!calls) return;
    this.blocked.delete(event.waiterId);
    if (event.type === "ASSIGNED") {
      const token = this.core.get(event.pool, event.token);
      this.settlements.push(() => {
        const lease = token.ok ? token.value.lease : undefined;
        // A granted token is held when its event fires; anything else is a core bug worth surfacing.
        const result: AssignResult = lease
          ? this.withAvailable(event.pool, (available) => ({ lease, available }))
          : { ok: false, error: { code: "UNAVAILABLE", message: "granted lease vanished" } };
        settleAll(calls, result);
      });
    } else {
      this.settlements.push(() => {
        const poolGone = !this.core.getPool(event.pool).ok;
        settleAll(calls, {
          ok: false,
          error: poolGone ? { code: "POOL_NOT_FOUND", pool: event.pool } : { code: "WAIT_TIMEOUT", pool: event.pool },
        });
      });
    }
  }

  private block(waiterId: number, signal: AbortSignal | undefined): Promise<AssignResult> {
    return new Promise<AssignResult>((resolve) => {
      let calls = this.blocked.get(waiterId);
      if (!calls) {
        calls = new Set();
        this.blocked.set(waiterId, calls);
      }
      const onAbort = (): void => {
        const current = this.blocked.get(waiterId);
        if (!current?.delete(call)) return;
        // The core waiter goes only when no caller is left on it.
        if (current.size === 0) {
          this.blocked.delete(waiterId);
          this.core.cancelWaiter(waiterId);
        }
        resolve({ ok: false, error: { code: "CANCELLED" } });
      };
      const call: BlockedCall = { settle: resolve, detach: () => signal?.removeEventListener("abort", onAbort) };
      calls.add(call);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private withAvailable<T>(pool: string, build: (available: number) => T): Result<T, StoreError> {
    const stats = this.core.getPool(pool);
    return stats.ok ? { ok: true, value: build(stats.value.available) } : stats;
  }

  /**
   * Ends a mutation: re-arms expiry, waits for durability (group commit: every mutation of the
   * same tick shares one flush), then delivers the answer and any waiter outcomes it caused.
   */
  private async commit<T>(answer?: () => Result<T, StoreError>): Promise<Result<T, StoreError>> {
    this.driver.poke();
    const settlements = this.settlements;
    this.settlements = [];
    const result = answer ? answer() : ({ ok: true, value: undefined as T } as const);
    if (this.persistence) {
      try {
        await this.persistence.flush();
      } catch (e) {
        const message = `storage commit failed: ${e instanceof Error ? e.message : String(e)}`;
        for (const s of settlements) s();
        return { ok: false, error: { code: "UNAVAILABLE", message } };
      }
    }
    for (const s of settlements) s();
    return result;
  }
}

function settleAll(calls: Set<BlockedCall>, result: AssignResult): void {
  for (const call of calls) {
    call.detach();
    call.settle(result);
  }
}
