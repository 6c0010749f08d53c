// The pool state machine: pools of unique tokens, leases with fencing generations, FIFO waiters, and
// expiry on one timer wheel. Pure: time is passed in, changes go out through the onEvent sink, errors
// are returned as values. Every operation is O(1) in the pool size (per token it touches).
//
// Each token has one timer node, armed at its due time: the lease deadline while held (a held token
// never goes idle before its lease ends), the idle deadline while free. Due times that move later
// (keep-alive, release) leave the node where it is; when it fires early it is re-armed at the real
// due time. So keep-alive never touches the wheel, and a token costs at most one early firing per
// lease period.
//
// Gangs (assignMany) wait in their own FIFO, apart from single assigns. The anti-starvation rule: a
// gang at the head of that queue that cannot be served yet lets later requests take up to `count`
// tokens (overtakes); once those are spent it reserves: every freed token stays free for it (no later
// request may take one) until it has `count`, so it is served after at most `count` more releases.
// Single waiters that queued before the gang are served first, as FIFO says.

import { TokenIndex } from "./token-index.js";
import { freshTokenIds, randomTokenId, mathRandomIndex } from "./token-ids.js";
import * as slabLayout from "./token-slab.js";
import { MAX_POOLS, TokenSlab, growInt32 } from "./token-slab.js";
import type { TimerQueue, TimerQueueFactory } from "./timer-queue.js";
import { TimerWheel } from "./timer-wheel.js";
import type {
  AdvanceResult,
  AssignManyOutcome,
  AssignOptions,
  AssignOutcome,
  CoreError,
  KeepAliveResult,
  Lease,
  LeaseEvent,
  LeaseEventType,
  Millis,
  PoolConfig,
  PoolStats,
  ReleaseOptions,
  Result,
  TokenFilter,
  TokenInfo,
  TokenPage,
  TokenRecord,
} from "./types.js";
import * as results from "./types.js";
import { SortedIds } from "./sorted-ids.js";
import {
  checkCount,
  checkGangSize,
  checkLeaseTtl,
  checkOwner,
  checkPool,
  checkTokenId,
  leaseMismatch,
  ownerQuotaExceeded,
} from "./validate.js";
import { WaiterQueue, type Waiter } from "./waiter-queue.js";

// Copied into module constants: hot paths then read locals, not imported live bindings (which a
// loader compiling to CommonJS, as tsx and vitest do, turns into a getter call per use).
const { CORDONED_FREE, GEN, HELD, IDLE_EXP, LEASE_EXP, VACANT, WAITER } = slabLayout;
const { err, ok } = results;

export interface TokenPoolsOptions {
  /** Receives every state change, in order. Must not call back into the core. */
  onEvent?: (e: LeaseEvent) => void;
  newTokenId?: () => string;
  /** Uniform integer in [0, n). */
  randomIndex?: (n: number) => number;
  /**
   * Seed of the token id hash: random per process by default, so ids a client picks to collide (and
   * make lookups slow) in one process do not in another.
   */
  hashSeed?: number;
  /** Timer resolution in ms; expiries fire at most one tick late. */
  tickMs?: number;
  /** Start of the timer axis; any time at or before the first `now` works. */
  startMs?: number;
  /** The expiry queue; the timer wheel unless a benchmark swaps in a baseline. */
  timers?: TimerQueueFactory;
}

const defaultTimers: TimerQueueFactory = (startMs, tickMs, dueOf) => new TimerWheel(startMs, dueOf, tickMs);

export const DEFAULT_POOL_CONFIG: PoolConfig = { leaseTtlMs: 60_000, idleTtlMs: 300_000, maxTokens: 1_000_000, maxLeasesPerOwner: 0 };

/** A filtered ListTokens page examines at most this many tokens per token asked for: O(page) whatever matches. */
export const LIST_SCAN_FACTOR = 4;

class Pool {
  readonly byId: TokenIndex;
  free = new Int32Array(16);
  freeCount = 0;
  generation = 0;
  sequence = 0;
  readonly waiters = new WaiterQueue();
  /** Waiting gangs, FIFO among themselves; see the anti-starvation rule at the top. */
  readonly gangs = new WaiterQueue();
  /** Every token id in id order (ListTokens). */
  readonly sorted: SortedIds;
  /** Cordoned slots, free or held. */
  readonly cordoned = new Set<number>();
  /** Cordoned slots that are free (CORDONED_FREE): neither available nor held. */
  cordonedFree = 0;
  /** Owner → leases held plus tokens its waiting requests asked for (owner quotas), O(1) per change. */
  readonly usage = new Map<string, number>();
  /** owner + "\0" + requestId → the slots of a gang, while every lease of it lives. */
  readonly gangRequests = new Map<string, number[]>();
  /** owner + "\0" + requestId → slot, only while that lease lives. */
  readonly requests = new Map<string, number>();
  /** owner + "\0" + requestId → waiter, only while it waits: a retry joins the same wait. */
  readonly waitingRequests = new Map<string, Waiter>();
  /**
   * Held slots whose lease is recyclable, oldest grant first (a Set keeps insertion order and deletes
   * in O(1)). Recovery inserts in storage order and marks it unsorted.
   */
  readonly recycleQueue = new Set<number>();
  recycleQueueSorted = true;

  constructor(
    readonly index: number,
    readonly name: string,
    public config: PoolConfig,
    idOf: (slot: number) => string,
    hashSeed: number,
  ) {
    this.byId = new TokenIndex(idOf, hashSeed);
    this.sorted = new SortedIds(idOf);
  }

  get total(): number {
    return this.byId.size;
  }
}

export class TokenPools {
  private readonly pools = new Map<string, Pool>();
  private readonly poolsByIndex: (Pool | undefined)[] = [];
  private readonly freePoolIndexes: number[] = [];
  /** Pool names in order, for paging. Pools are few; tokens are many. */
  private readonly sortedNames: string[] = [];
  private readonly slab: TokenSlab;
  private readonly wheel: TimerQueue;
  private readonly waitersById = new Map<number, Waiter>();
  private readonly waitersByNode = new Map<number, Waiter>();
  /** Slot → its lease's request key, only for leases assigned with a requestId. */
  private readonly requestKeyOf = new Map<number, string>();
  private nextWaiterId = 1;
  private readonly emit: ((e: LeaseEvent) => void) | undefined;
  private readonly newTokenId: () => string;
  private readonly randomIndex: (n: number) => number;
  /** Seeds every pool's id index. */
  private readonly hashSeed: number;
  private readonly idOf = (slot: number): string => this.slab.id(slot);

  constructor(options: TokenPoolsOptions = {}) {
    this.emit = options.onEvent;
    this.newTokenId = options.newTokenId ?? randomTokenId;
    this.randomIndex = options.randomIndex ?? mathRandomIndex;
    this.hashSeed = options.hashSeed ?? mathRandomIndex(0x7fffffff);
    // A node's due time: the idle deadline while free, else the lease (or waiter) deadline.
    const dueOf = (id: number): number => {
      const pos = this.slab.freePos(id);
      return this.slab.num[id * 4 + (pos >= 0 || pos === CORDONED_FREE ? IDLE_EXP : LEASE_EXP)]!;
    };
    this.wheel = (options.timers ?? defaultTimers)(options.startMs ?? 0, options.tickMs ?? 1, dueOf);
    this.slab = new TokenSlab((capacity) => this.wheel.ensureCapacity(capacity));
  }

  // ---- pools -----------------------------------------------------------------------------------

  createPool(name: string, config: Partial<PoolConfig>, _now: Millis): Result<PoolStats> {
    const full: PoolConfig = { ...DEFAULT_POOL_CONFIG, ...config };
    const problem = checkPool(name, full);
    if (problem) return err(problem);
    if (this.pools.has(name)) return err({ code: "POOL_EXISTS", pool: name });
    const pool = this.addPool(name, full);
    return pool ? ok(this.stats(pool)) : err({ code: "TOO_MANY_POOLS", limit: MAX_POOLS });
  }

  deletePool(name: string, now: Millis): Result<void> {
    const pool = this.pools.get(name);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: name });
    for (const w of pool.waiters.drain()) this.endWaiter(w, now);
    for (const w of pool.gangs.drain()) this.endWaiter(w, now);
    // O(tokens of this pool): every one of its timers and slots is given back.
    for (const slot of pool.byId.values()) {
      if (this.requestKeyOf.size !== 0) this.requestKeyOf.delete(slot);
      this.wheel.cancel(slot);
      this.slab.free(slot);
    }
    this.pools.delete(name);
    this.poolsByIndex[pool.index] = undefined;
    this.freePoolIndexes.push(pool.index);
    this.sortedNames.splice(this.nameIndex(name), 1);
    return ok(undefined);
  }

  /** New values apply to leases and deadlines set from now on; existing ones run as granted. */
  updatePool(name: string, changes: Partial<PoolConfig>, _now: Millis): Result<PoolStats> {
    const pool = this.pools.get(name);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: name });
    const config: PoolConfig = { ...pool.config, ...changes };
    const problem = checkPool(name, config);
    if (problem) return err(problem);
    if (config.maxTokens < pool.total) {
      return err({ code: "INVALID_ARGUMENT", field: "max_tokens", message: `must not be below the ${pool.total} tokens the pool holds` });
    }
    pool.config = config;
    return ok(this.stats(pool));
  }

  getPool(name: string): Result<PoolStats> {
    const pool = this.pools.get(name);
    return pool ? ok(this.stats(pool)) : err({ code: "POOL_NOT_FOUND", pool: name });
  }

  listPools(afterName: string | undefined, limit: number): PoolStats[] {
    let i = afterName === undefined ? 0 : this.nameIndex(afterName);
    if (afterName !== undefined && this.sortedNames[i] === afterName) i++;
    const out: PoolStats[] = [];
    for (; i < this.sortedNames.length && out.length < limit; i++) out.push(this.stats(this.pools.get(this.sortedNames[i]!)!));
    return out;
  }

  // ---- tokens ----------------------------------------------------------------------------------

  generate(poolName: string, spec: { count: number } | { ids: readonly string[] }, now: Millis): Result<string[]> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const given = "ids" in spec ? spec.ids : undefined;
    const count = given ? given.length : (spec as { count: number }).count;
    const badCount = checkCount(count);
    if (badCount) return err(badCount);
    if (given) {
      // Check everything before changing anything: all or nothing.
      const problem = this.checkNewIds(pool, given);
      if (problem) return err(problem);
    }
    if (pool.total + count > pool.config.maxTokens) return err({ code: "POOL_FULL", pool: pool.name, maxTokens: pool.config.maxTokens });
    const ids = given ? [...given] : freshTokenIds(count, this.newTokenId, (id) => pool.byId.has(id));
    if (ids === undefined) return err({ code: "TOKEN_EXISTS", pool: pool.name, token: "" });
    for (const id of ids) {
      const slot = this.newTokenSlot(pool, id, this.idleDeadline(pool, now));
      this.event(pool, "GENERATED", slot, now);
      this.makeAvailable(pool, slot, now);
    }
    return ok(ids);
  }

  assign(poolName: string, owner: string, opts: AssignOptions, now: Millis): Result<AssignOutcome> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const bad = checkOwner(owner) ?? (opts.leaseTtlMs !== undefined ? checkLeaseTtl(opts.leaseTtlMs) : undefined);
    if (bad) return err(bad);
    if (opts.requestId !== undefined && opts.requestId !== "") {
      const existing = pool.requests.get(requestKey(owner, opts.requestId));
      if (existing !== undefined) return ok({ kind: "leased", lease: this.lease(pool, existing), available: pool.freeCount });
    }
    if (pool.config.maxLeasesPerOwner !== 0) {
      const joined = opts.requestId ? pool.waitingRequests.get(requestKey(owner, opts.requestId)) : undefined;
      const over = joined ? undefined : ownerQuotaExceeded(pool.name, owner, pool.config.maxLeasesPerOwner, pool.usage.get(owner) ?? 0, 1);
      if (over) return err(over);
    }
    const gang = pool.gangs.size === 0 ? undefined : pool.gangs.peek();
    if (pool.freeCount === 0 || (gang !== undefined && gang.overtakes === 0)) {
      if (opts.waitUntil === undefined || opts.waitUntil <= now) return err({ code: "POOL_EXHAUSTED", pool: pool.name, waiters: pool.waiters.size + pool.gangs.size });
      const joined = opts.requestId ? pool.waitingRequests.get(requestKey(owner, opts.requestId)) : undefined;
      return ok({ kind: "waiting", waiterId: joined ? joined.id : this.enqueueWaiter(pool, owner, opts, opts.waitUntil) });
    }
    const pick = this.randomIndex(pool.freeCount);
    if (!(pick >= 0 && pick < pool.freeCount)) throw new RangeError(`randomIndex(${pool.freeCount}) returned ${pick}`);
    const slot = pool.free[pick | 0]!;
    this.takeFree(pool, slot);
    if (gang !== undefined) gang.overtakes--;
    this.grant(pool, slot, owner, opts.leaseTtlMs, opts.requestId, opts.recyclable === true, now, undefined);
    return ok({ kind: "leased", lease: this.lease(pool, slot), available: pool.freeCount });
  }

  /**
   * Leases `count` random free tokens at once, all or none (a gang), each with its own generation. With
   * `waitUntil` it queues FIFO behind earlier gangs (the rule at the top of this file). `maxCount` is
   * the caller's batch limit. O(count).
   */
  assignMany(poolName: string, owner: string, count: number, maxCount: number, opts: AssignOptions, now: Millis): Result<AssignManyOutcome> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const bad = checkGangSize(count, maxCount) ?? checkOwner(owner) ?? (opts.leaseTtlMs !== undefined ? checkLeaseTtl(opts.leaseTtlMs) : undefined);
    if (bad) return err(bad);
    const key = opts.requestId ? requestKey(owner, opts.requestId) : undefined;
    if (key !== undefined) {
      const existing = pool.gangRequests.get(key);
      if (existing !== undefined) return ok({ kind: "leased", leases: existing.map((slot) => this.lease(pool, slot)), available: pool.freeCount });
      const joined = pool.waitingRequests.get(key);
      if (joined !== undefined && joined.gang) return ok({ kind: "waiting", waiterId: joined.id });
    }
    const over = ownerQuotaExceeded(pool.name, owner, pool.config.maxLeasesPerOwner, pool.usage.get(owner) ?? 0, count);
    if (over) return err(over);
    if (pool.gangs.size === 0 && pool.freeCount >= count) {
      const slots = this.grantGang(pool, owner, count, opts.leaseTtlMs, key, now, undefined);
      return ok({ kind: "leased", leases: slots.map((slot) => this.lease(pool, slot)), available: pool.freeCount });
    }
    if (opts.waitUntil === undefined || opts.waitUntil <= now) return err({ code: "POOL_EXHAUSTED", pool: pool.name, waiters: pool.waiters.size + pool.gangs.size });
    return ok({ kind: "waiting", waiterId: this.enqueueWaiter(pool, owner, opts, opts.waitUntil, count) });
  }

  /**
   * `now`: when tokens a cancelled gang kept for itself go to the requests behind it; without it
   * (shutdown, every waiter is being cancelled) they simply stay free.
   */
  cancelWaiter(waiterId: number, now?: Millis): boolean {
    const w = this.waitersById.get(waiterId);
    if (!w) return false;
    const pool = this.poolsByIndex[w.pool]!;
    this.unqueueWaiter(pool, w);
    this.dropWaiter(w);
    if (w.gang && now !== undefined) this.serveQueues(pool, now);
    return true;
  }

  /** Takes a token out of service; idempotent (no event when it already is). */
  cordon(poolName: string, token: string, now: Millis): Result<TokenInfo> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const slot = pool.byId.get(token);
    if (slot === undefined) return err({ code: "TOKEN_NOT_FOUND", pool: pool.name, token });
    if (!pool.cordoned.has(slot)) {
      pool.cordoned.add(slot);
      if (this.slab.freePos(slot) >= 0) {
        this.takeFree(pool, slot);
        this.slab.setFreePos(slot, CORDONED_FREE);
        pool.cordonedFree++;
      }
      this.event(pool, "TOKEN_CORDONED", slot, now);
    }
    return this.get(poolName, token);
  }

  /** Returns a cordoned token to service (to the oldest waiter, if free); idempotent. */
  uncordon(poolName: string, token: string, now: Millis): Result<TokenInfo> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const slot = pool.byId.get(token);
    if (slot === undefined) return err({ code: "TOKEN_NOT_FOUND", pool: pool.name, token });
    if (pool.cordoned.delete(slot)) {
      this.event(pool, "TOKEN_UNCORDONED", slot, now);
      if (this.slab.freePos(slot) === CORDONED_FREE) {
        pool.cordonedFree--;
        this.slab.setFreePos(slot, HELD);
        this.makeAvailable(pool, slot, now);
      }
    }
    return this.get(poolName, token);
  }

  /**
   * A page of the pool's tokens in id order, after `after`. O(log n + page): with a filter at most
   * LIST_SCAN_FACTOR x limit tokens are examined, so a page may come back short (even empty) with `next` set.
   */
  listTokens(poolName: string, filter: { state?: TokenFilter; owner?: string }, after: string | undefined, limit: number): Result<TokenPage> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const tokens: TokenInfo[] = [];
    const filtered = filter.state !== undefined || (filter.owner !== undefined && filter.owner !== "");
    let budget = filtered ? limit * LIST_SCAN_FACTOR : limit;
    let last: string | undefined;
    const more = pool.sorted.forEachAfter(after, (id, slot) => {
      last = id;
      if (this.matches(pool, slot, filter)) tokens.push(this.info(pool, slot));
      return --budget > 0 && tokens.length < limit;
    });
    return ok({ tokens, next: more ? last : undefined });
  }

  keepAlive(poolName: string, tokens: readonly string[], now: Millis): Result<KeepAliveResult[]> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const s = this.slab;
    const results: KeepAliveResult[] = [];
    for (const token of tokens) {
      const slot = pool.byId.get(token);
      if (slot === undefined) {
        results.push({ token, status: "not_found", idleExpireTime: undefined, lease: undefined });
        continue;
      }
      const held = s.freePos(slot) === HELD;
      const r = slot * 4;
      const before = s.num[r + (held ? LEASE_EXP : IDLE_EXP)]!;
      if (held) s.num[r + LEASE_EXP] = now + s.leaseTtl(slot);
      s.num[r + IDLE_EXP] = this.idleDeadline(pool, now, held ? s.num[r + LEASE_EXP]! : undefined);
      const due = s.num[r + (held ? LEASE_EXP : IDLE_EXP)]!;
      // Later (the usual case): the timer stays put and re-arms itself if it fires before `due`.
      if (due < before) this.wheel.schedule(slot, due);
      else this.wheel.postpone(slot, due);
      this.event(pool, "RENEWED", slot, now);
      results.push({
        token,
        status: "ok",
        idleExpireTime: finite(s.num[slot * 4 + IDLE_EXP]!),
        lease: held ? this.lease(pool, slot) : undefined,
      });
    }
    return ok(results);
  }

  release(poolName: string, token: string, opts: ReleaseOptions, now: Millis): Result<{ available: number }> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const slot = pool.byId.get(token);
    if (slot === undefined) return err({ code: "TOKEN_NOT_FOUND", pool: pool.name, token });
    const s = this.slab;
    if (s.freePos(slot) !== HELD) return err({ code: "NOT_HELD", pool: pool.name, token });
    if (opts.generation !== undefined && opts.generation !== s.num[slot * 4 + GEN]) {
      return err(leaseMismatch(pool.name, token, { generation: s.num[slot * 4 + GEN]!, asked: opts.generation }));
    }
    if (opts.owner !== undefined && opts.owner !== s.owner(slot)) {
      return err(leaseMismatch(pool.name, token, { owner: s.owner(slot), asked: opts.owner }));
    }
    this.releaseHeld(pool, slot, now);
    return ok({ available: pool.freeCount });
  }

  /**
   * Releases the oldest lease still held on the pool's recycle queue; `released` is undefined when
   * there is none. O(1): leases leave the queue as they end, so its head is always live.
   */
  releaseOldestRecyclable(poolName: string, now: Millis): Result<{ released: string | undefined; available: number }> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    if (!pool.recycleQueueSorted) this.sortRecycleQueue(pool);
    const first = pool.recycleQueue.values().next();
    if (first.done) return ok({ released: undefined, available: pool.freeCount });
    const slot = first.value;
    const token = this.slab.id(slot);
    this.releaseHeld(pool, slot, now);
    return ok({ released: token, available: pool.freeCount });
  }

  delete(poolName: string, token: string, now: Millis): Result<void> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const slot = pool.byId.get(token);
    if (slot === undefined) return err({ code: "TOKEN_NOT_FOUND", pool: pool.name, token });
    this.event(pool, "DELETED", slot, now);
    this.removeToken(pool, slot);
    return ok(undefined);
  }

  get(poolName: string, token: string): Result<TokenInfo> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const slot = pool.byId.get(token);
    if (slot === undefined) return err({ code: "TOKEN_NOT_FOUND", pool: pool.name, token });
    return ok(this.info(pool, slot));
  }

  // ---- time ------------------------------------------------------------------------------------

  nextDeadline(): Millis | undefined {
    return this.wheel.nextDeadline();
  }

  advance(now: Millis, maxEvents: number): AdvanceResult {
    const budget = maxEvents >= 1 ? Math.floor(maxEvents) : 1;
    return this.wheel.advance(now, budget, (node, at) => this.onTimer(node, at, now));
  }

  // ---- recovery --------------------------------------------------------------------------------

  restorePool(name: string, config: PoolConfig, marks: { generation: number; sequence: number }): Result<PoolStats> {
    const problem = checkPool(name, config);
    if (problem) return err(problem);
    if (this.pools.has(name)) return err({ code: "POOL_EXISTS", pool: name });
    const pool = this.addPool(name, config);
    if (!pool) return err({ code: "TOO_MANY_POOLS", limit: MAX_POOLS });
    pool.generation = marks.generation;
    pool.sequence = marks.sequence;
    return ok(this.stats(pool));
  }

  restoreToken(poolName: string, record: TokenRecord, _now: Millis): Result<void> {
    const pool = this.pools.get(poolName);
    if (!pool) return err({ code: "POOL_NOT_FOUND", pool: poolName });
    const bad = checkTokenId(record.token, "token");
    if (bad) return err(bad);
    if (pool.byId.has(record.token)) return err({ code: "TOKEN_EXISTS", pool: pool.name, token: record.token });
    const slot = this.newTokenSlot(pool, record.token, record.idleExpireTime ?? Infinity);
    const lease = record.lease;
    if (lease) {
      const s = this.slab;
      s.setFreePos(slot, HELD);
      s.setOwner(slot, lease.owner);
      s.num[slot * 4 + GEN] = lease.generation;
      s.setLeaseTtl(slot, lease.leaseTtlMs);
      s.num[slot * 4 + LEASE_EXP] = lease.expireTime;
      // Same invariant as live leases: a held token does not go idle before its lease ends.
      if (s.num[slot * 4 + IDLE_EXP]! < lease.expireTime) s.num[slot * 4 + IDLE_EXP] = lease.expireTime;
      if (lease.generation > pool.generation) pool.generation = lease.generation;
      pool.usage.set(lease.owner, (pool.usage.get(lease.owner) ?? 0) + 1);
      if (lease.requestId && lease.gang) this.restoreGangLease(pool, slot, requestKey(lease.owner, lease.requestId));
      else if (lease.requestId) this.rememberRequest(pool, slot, lease.owner, lease.requestId);
      if (lease.recyclable) this.restoreRecyclable(pool, slot);
      this.wheel.schedule(slot, lease.expireTime);
    } else if (record.cordoned) {
      this.slab.setFreePos(slot, CORDONED_FREE);
      pool.cordonedFree++;
      this.wheel.postpone(slot, idleOf(this.slab, slot));
    } else {
      this.pushFree(pool, slot);
      this.wheel.postpone(slot, idleOf(this.slab, slot));
    }
    if (record.cordoned) pool.cordoned.add(slot);
    return ok(undefined);
  }

  private restoreGangLease(pool: Pool, slot: number, key: string): void {
    const slots = pool.gangRequests.get(key);
    if (slots) slots.push(slot);
    else pool.gangRequests.set(key, [slot]);
    this.requestKeyOf.set(slot, key);
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Storage order is not grant order: the queue is sorted once, when first used. */
  private restoreRecyclable(pool: Pool, slot: number): void {
    pool.recycleQueue.add(slot);
    pool.recycleQueueSorted = false;
  }

  /** Grant order is generation order: one sort after recovery, O(k log k) in the queue's length. */
  private sortRecycleQueue(pool: Pool): void {
    const gen = (slot: number): number => this.slab.num[slot * 4 + GEN]!;
    const slots = [...pool.recycleQueue].sort((a, b) => gen(a) - gen(b));
    pool.recycleQueue.clear();
    for (const slot of slots) pool.recycleQueue.add(slot);
    pool.recycleQueueSorted = true;
  }

  private checkNewIds(pool: Pool, ids: readonly string[]): CoreError | undefined {
    const seen = new Set<string>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const bad = checkTokenId(id, `tokens[${i}]`);
      if (bad) return bad;
      if (pool.byId.has(id) || seen.has(id)) return { code: "TOKEN_EXISTS", pool: pool.name, token: id };
      seen.add(id);
    }
    return undefined;
  }

  private addPool(name: string, config: PoolConfig): Pool | undefined {
    const index = this.freePoolIndexes.length > 0 ? this.freePoolIndexes.pop()! : this.poolsByIndex.length;
    if (index >= MAX_POOLS) return undefined;
    const pool = new Pool(index, name, config, this.idOf, this.hashSeed);
    this.pools.set(name, pool);
    this.poolsByIndex[index] = pool;
    this.sortedNames.splice(this.nameIndex(name), 0, name);
    return pool;
  }

  private stats(pool: Pool): PoolStats {
    return {
      name: pool.name,
      config: pool.config,
      total: pool.total,
      available: pool.freeCount,
      held: pool.total - pool.freeCount - pool.cordonedFree,
      waiters: pool.waiters.size + pool.gangs.size,
      cordoned: pool.cordoned.size,
      generation: pool.generation,
      sequence: pool.sequence,
    };
  }

  /** First index whose name is >= `name` (binary search). */
  private nameIndex(name: string): number {
    let lo = 0;
    let hi = this.sortedNames.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sortedNames[mid]! < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private newTokenSlot(pool: Pool, id: string, idleExpire: number): number {
    const s = this.slab;
    const slot = s.alloc(pool.index, id);
    s.num[slot * 4 + GEN] = 0;
    s.num[slot * 4 + LEASE_EXP] = Infinity;
    s.num[slot * 4 + IDLE_EXP] = idleExpire;
    s.setFreePos(slot, HELD); // not yet in the free list; makeAvailable/pushFree decide
    pool.byId.set(id, slot);
    pool.sorted.insert(slot);
    return slot;
  }

  /**
   * A token that just became free: a cordoned one stays out of service; otherwise it goes to the oldest
   * single waiter unless a reserving gang comes first (see the rule at the top), else to the free list,
   * where a gang may then take it with others.
   */
  private makeAvailable(pool: Pool, slot: number, now: Millis): void {
    if (pool.cordoned.size !== 0 && pool.cordoned.has(slot)) {
      this.slab.setFreePos(slot, CORDONED_FREE);
      pool.cordonedFree++;
      this.wheel.postpone(slot, idleOf(this.slab, slot));
      return;
    }
    const gang = pool.gangs.size === 0 ? undefined : pool.gangs.peek();
    const waiter = pool.waiters.size === 0 ? undefined : pool.waiters.peek()!;
    if (waiter !== undefined && (gang === undefined || waiter.id < gang.id || gang.overtakes > 0)) {
      pool.waiters.remove(waiter);
      if (gang !== undefined && waiter.id > gang.id) gang.overtakes--;
      this.dropWaiter(waiter);
      this.slab.setFreePos(slot, HELD);
      this.grant(pool, slot, waiter.owner, waiter.leaseTtlMs, waiter.requestId, waiter.recyclable, now, waiter.id);
      return;
    }
    this.pushFree(pool, slot);
    // The idle deadline is never earlier than the lease deadline the timer may still sit at.
    this.wheel.postpone(slot, idleOf(this.slab, slot));
    if (gang !== undefined && pool.freeCount >= gang.count) this.serveQueues(pool, now);
  }

  /**
   * Serves what the queues allow after a gang left the head of its queue or tokens were freed: gangs
   * whose count is free, and single waiters no reserving gang comes before. Each round grants, so the
   * work is bounded by the grants made.
   */
  private serveQueues(pool: Pool, now: Millis): void {
    for (;;) {
      const gang = pool.gangs.size === 0 ? undefined : pool.gangs.peek()!;
      if (gang !== undefined && pool.freeCount >= gang.count) {
        pool.gangs.remove(gang);
        this.dropWaiter(gang);
        this.grantGang(pool, gang.owner, gang.count, gang.leaseTtlMs, gang.requestId ? requestKey(gang.owner, gang.requestId) : undefined, now, gang.id);
        continue;
      }
      const waiter = pool.waiters.size === 0 ? undefined : pool.waiters.peek()!;
      if (pool.freeCount === 0 || waiter === undefined) return;
      if (gang !== undefined && waiter.id > gang.id && gang.overtakes === 0) return;
      pool.waiters.remove(waiter);
      if (gang !== undefined && waiter.id > gang.id) gang.overtakes--;
      this.dropWaiter(waiter);
      const slot = pool.free[this.randomIndex(pool.freeCount) | 0]!;
      this.takeFree(pool, slot);
      this.grant(pool, slot, waiter.owner, waiter.leaseTtlMs, waiter.requestId, waiter.recyclable, now, waiter.id);
    }
  }

  /** `count` random free tokens (the caller checked there are that many) to one owner, one ASSIGNED event each. */
  private grantGang(
    pool: Pool,
    owner: string,
    count: number,
    leaseTtlMs: number | undefined,
    key: string | undefined,
    now: Millis,
    waiterId: number | undefined,
  ): number[] {
    const slots: number[] = [];
    for (let i = 0; i < count; i++) {
      const pick = this.randomIndex(pool.freeCount);
      if (!(pick >= 0 && pick < pool.freeCount)) throw new RangeError(`randomIndex(${pool.freeCount}) returned ${pick}`);
      const slot = pool.free[pick | 0]!;
      this.takeFree(pool, slot);
      this.grant(pool, slot, owner, leaseTtlMs, undefined, false, now, waiterId);
      slots.push(slot);
    }
    if (key !== undefined) {
      pool.gangRequests.set(key, slots);
      for (const slot of slots) this.requestKeyOf.set(slot, key);
    }
    return slots;
  }

  private unqueueWaiter(pool: Pool, w: Waiter): void {
    (w.gang ? pool.gangs : pool.waiters).remove(w);
  }

  private matches(pool: Pool, slot: number, filter: { state?: TokenFilter; owner?: string }): boolean {
    const pos = this.slab.freePos(slot);
    if (filter.owner !== undefined && filter.owner !== "" && (pos !== HELD || this.slab.owner(slot) !== filter.owner)) return false;
    switch (filter.state) {
      case undefined:
        return true;
      case "free":
        return pos >= 0;
      case "held":
        return pos === HELD;
      case "cordoned":
        return pool.cordoned.has(slot);
    }
  }

  private info(pool: Pool, slot: number): TokenInfo {
    const held = this.slab.freePos(slot) === HELD;
    return {
      pool: pool.name,
      token: this.slab.id(slot),
      state: held ? "held" : "free",
      idleExpireTime: finite(this.slab.num[slot * 4 + IDLE_EXP]!),
      lease: held ? this.lease(pool, slot) : undefined,
      cordoned: pool.cordoned.size !== 0 && pool.cordoned.has(slot),
    };
  }

  private pushFree(pool: Pool, slot: number): void {
    if (pool.freeCount === pool.free.length) pool.free = growInt32(pool.free, pool.free.length * 2);
    pool.free[pool.freeCount] = slot;
    this.slab.setFreePos(slot, pool.freeCount++);
  }

  /** Swap-remove from the free list: O(1), and keeps the list dense for uniform picks. */
  private takeFree(pool: Pool, slot: number): void {
    const pos = this.slab.freePos(slot);
    const last = pool.free[--pool.freeCount]!;
    pool.free[pos] = last;
    this.slab.setFreePos(last, pos);
    this.slab.setFreePos(slot, HELD);
  }

  private grant(
    pool: Pool,
    slot: number,
    owner: string,
    leaseTtlMs: number | undefined,
    requestId: string | undefined,
    recyclable: boolean,
    now: Millis,
    waiterId: number | undefined,
  ): void {
    const s = this.slab;
    const ttl = leaseTtlMs ?? pool.config.leaseTtlMs;
    s.setOwner(slot, owner);
    s.num[slot * 4 + GEN] = ++pool.generation;
    s.setLeaseTtl(slot, ttl);
    s.num[slot * 4 + LEASE_EXP] = now + ttl;
    s.num[slot * 4 + IDLE_EXP] = this.idleDeadline(pool, now, now + ttl);
    if (requestId !== undefined && requestId !== "") this.rememberRequest(pool, slot, owner, requestId);
    if (recyclable) pool.recycleQueue.add(slot);
    pool.usage.set(owner, (pool.usage.get(owner) ?? 0) + 1);
    this.wheel.schedule(slot, now + ttl);
    this.event(pool, "ASSIGNED", slot, now, waiterId);
  }

  private rememberRequest(pool: Pool, slot: number, owner: string, requestId: string): void {
    const key = requestKey(owner, requestId);
    pool.requests.set(key, slot);
    this.requestKeyOf.set(slot, key);
  }

  /** A held token given back by its holder: the event, then the token to the oldest waiter or the free list. */
  private releaseHeld(pool: Pool, slot: number, now: Millis): void {
    this.event(pool, "RELEASED", slot, now);
    this.endLease(pool, slot);
    this.makeAvailable(pool, slot, now);
  }

  /** Clears lease fields of a held token (the caller decides where the token goes next). */
  private endLease(pool: Pool, slot: number): void {
    const s = this.slab;
    if (this.requestKeyOf.size !== 0) {
      const key = this.requestKeyOf.get(slot);
      if (key !== undefined) {
        this.requestKeyOf.delete(slot);
        if (pool.requests.get(key) === slot) pool.requests.delete(key);
        else this.forgetGang(pool, key);
      }
    }
    if (pool.recycleQueue.size !== 0) pool.recycleQueue.delete(slot);
    this.unuse(pool, s.owner(slot), 1);
    s.setOwner(slot, "");
    s.num[slot * 4 + LEASE_EXP] = Infinity;
  }

  /** A gang's request id lives only while every lease of it does: one ending forgets it for all. */
  private forgetGang(pool: Pool, key: string): void {
    const slots = pool.gangRequests.get(key);
    if (slots === undefined) return;
    pool.gangRequests.delete(key);
    for (const other of slots) if (this.requestKeyOf.get(other) === key) this.requestKeyOf.delete(other);
  }

  private unuse(pool: Pool, owner: string, n: number): void {
    const left = (pool.usage.get(owner) ?? 0) - n;
    if (left > 0) pool.usage.set(owner, left);
    else pool.usage.delete(owner);
  }

  private removeToken(pool: Pool, slot: number): void {
    const s = this.slab;
    const pos = s.freePos(slot);
    if (pos >= 0) this.takeFree(pool, slot);
    else if (pos === CORDONED_FREE) pool.cordonedFree--;
    else this.endLease(pool, slot);
    if (pool.cordoned.size !== 0) pool.cordoned.delete(slot);
    this.wheel.cancel(slot);
    pool.sorted.delete(s.id(slot));
    pool.byId.delete(s.id(slot));
    this.slab.free(slot);
  }

  /**
   * A held token never goes idle before its lease ends: a lease longer than the idle TTL (such as the
   * legacy API's 30-minute leases) keeps its token until the lease itself expires.
   */
  private idleDeadline(pool: Pool, now: Millis, leaseExpire?: number): number {
    if (pool.config.idleTtlMs === 0) return Infinity;
    const idle = now + pool.config.idleTtlMs;
    return leaseExpire !== undefined && leaseExpire > idle ? leaseExpire : idle;
  }

  /**
   * A timer fired at `at` (during advance(now)): expire what is due by then, or re-arm a node whose
   * due time moved later since it was armed. Comparing with `at`, not `now`, keeps expiries in
   * deadline order when one advance() spans many deadlines.
   */
  private onTimer(node: number, at: Millis, now: Millis): void {
    const s = this.slab;
    const kind = s.freePos(node);
    if (kind === WAITER) {
      const w = this.waitersByNode.get(node)!;
      const pool = this.poolsByIndex[w.pool]!;
      this.unqueueWaiter(pool, w);
      this.endWaiter(w, s.num[node * 4 + LEASE_EXP]!);
      // A gang that kept freed tokens for itself gives them to the requests behind it.
      if (w.gang) this.serveQueues(pool, now);
      return;
    }
    if (kind === VACANT) return;
    const pool = this.poolsByIndex[s.pool(node)]!;
    if (kind === HELD) {
      const expire = s.num[node * 4 + LEASE_EXP]!;
      if (expire > at) {
        this.wheel.schedule(node, expire);
        return;
      }
      this.event(pool, "LEASE_EXPIRED", node, expire);
      this.endLease(pool, node);
      // Free again: to the oldest waiter, or re-armed at the idle deadline. When that deadline has
      // passed too, the wheel fires it next, in deadline order with everything else.
      this.makeAvailable(pool, node, now);
      return;
    }
    const idle = s.num[node * 4 + IDLE_EXP]!;
    if (idle > at) {
      this.wheel.postpone(node, idle);
      return;
    }
    this.event(pool, "IDLE_EXPIRED", node, idle);
    this.removeToken(pool, node);
  }

  private enqueueWaiter(pool: Pool, owner: string, opts: AssignOptions, until: Millis, count = 0): number {
    const node = this.slab.alloc(pool.index, "");
    this.slab.setFreePos(node, WAITER);
    this.slab.num[node * 4 + LEASE_EXP] = until;
    const waiter: Waiter = {
      id: this.nextWaiterId++,
      node,
      pool: pool.index,
      owner,
      leaseTtlMs: opts.leaseTtlMs,
      requestId: opts.requestId,
      recyclable: opts.recyclable === true,
      count: count === 0 ? 1 : count,
      gang: count !== 0,
      overtakes: count,
      prev: undefined,
      next: undefined,
    };
    (waiter.gang ? pool.gangs : pool.waiters).push(waiter);
    // What a waiting request asked for counts against its owner's quota until it is granted or gives up.
    pool.usage.set(owner, (pool.usage.get(owner) ?? 0) + waiter.count);
    if (opts.requestId) pool.waitingRequests.set(requestKey(owner, opts.requestId), waiter);
    this.waitersById.set(waiter.id, waiter);
    this.waitersByNode.set(node, waiter);
    this.wheel.schedule(node, until);
    return waiter.id;
  }

  /** Forgets a waiter already unlinked from its queue. */
  private dropWaiter(w: Waiter): void {
    const pool = this.poolsByIndex[w.pool]!;
    if (w.requestId) pool.waitingRequests.delete(requestKey(w.owner, w.requestId));
    this.unuse(pool, w.owner, w.count);
    this.waitersById.delete(w.id);
    this.waitersByNode.delete(w.node);
    this.wheel.cancel(w.node);
    this.slab.free(w.node);
  }

  /** `time`: the waiter's deadline when it timed out, the call's `now` when its pool was deleted. */
  private endWaiter(w: Waiter, time: Millis): void {
    const pool = this.poolsByIndex[w.pool]!;
    this.dropWaiter(w);
    pool.sequence++;
    this.emit?.({
      sequence: pool.sequence,
      type: "WAITER_TIMED_OUT",
      pool: pool.name,
      token: "",
      owner: w.owner,
      generation: 0,
      time,
      expireTime: undefined,
      idleExpireTime: undefined,
      waiterId: w.id,
    });
  }

  private lease(pool: Pool, slot: number): Lease {
    const s = this.slab;
    const key = this.requestKeyOf.size === 0 ? undefined : this.requestKeyOf.get(slot);
    const lease: Lease = {
      pool: pool.name,
      token: s.id(slot),
      owner: s.owner(slot),
      generation: s.num[slot * 4 + GEN]!,
      leaseTtlMs: s.leaseTtl(slot),
      expireTime: s.num[slot * 4 + LEASE_EXP]!,
      idleExpireTime: finite(s.num[slot * 4 + IDLE_EXP]!),
      requestId: requestIdOf(key),
      recyclable: pool.recycleQueue.size !== 0 && pool.recycleQueue.has(slot) ? true : undefined,
    };
    return key !== undefined && pool.gangRequests.size !== 0 && pool.gangRequests.has(key) ? { ...lease, gang: true } : lease;
  }

  private event(pool: Pool, type: LeaseEventType, slot: number, time: Millis, waiterId?: number): void {
    const sequence = ++pool.sequence;
    if (this.emit === undefined) return;
    const s = this.slab;
    const held = s.freePos(slot) === HELD && s.num[slot * 4 + LEASE_EXP] !== Infinity;
    this.emit({
      sequence,
      type,
      pool: pool.name,
      token: s.id(slot),
      owner: held ? s.owner(slot) : "",
      generation: held ? s.num[slot * 4 + GEN]! : 0,
      time,
      expireTime: held ? s.num[slot * 4 + LEASE_EXP] : undefined,
      idleExpireTime: finite(s.num[slot * 4 + IDLE_EXP]!),
      waiterId,
    });
  }
}

function idleOf(slab: TokenSlab, slot: number): number {
  return slab.num[slot * 4 + IDLE_EXP]!;
}

function finite(ms: number): number | undefined {
  return ms === Infinity ? undefined : ms;
}

/** Joined, not concatenated: the key lives as long as its lease, and a concatenation is a rope. */
function requestKey(owner: string, requestId: string): string {
  return [owner, requestId].join("\u0000");
}

function requestIdOf(key: string | undefined): string | undefined {
  return key === undefined ? undefined : key.slice(key.indexOf("\u0000") + 1);
}
