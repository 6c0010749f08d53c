// A Store on a shared Redis or Redis Cluster: all pool and lease state lives in Redis and every
// operation is one atomic Lua script using Redis time, so any number of stateless replicas can serve
// the same pools. Each replica adds a reaper (expiry), per-pool event readers (watches and blocked
// assigns and gangs, the waits themselves in queued-wait.ts), a pool lister while all pools are watched, and
// nothing else: a replica can be killed at any moment without losing state.

import { randomUUID } from "node:crypto";
import { DEFAULT_POOL_CONFIG } from "../../core/token-pools.js";
import { freshTokenIds, randomTokenId } from "../../core/token-ids.js";
import type { CoreError, KeepAliveResult, Lease, PoolConfig, PoolStats, ReleaseOptions, Result, TokenInfo, TokenPage } from "../../core/types.js";
import { checkCount, checkGangSize, checkLeaseTtl, checkOwner, checkPool, checkTokenId, leaseMismatch } from "../../core/validate.js";
import { Subscription, type WatchEnd } from "../../runtime/event-hub.js";
import type { Logger } from "../../runtime/logger.js";
import type { Store, StoreAssignOptions, StoreError, StoreObserver, TokenQuery, Watch } from "../store.js";
import { gangQueueRules } from "./gang-wait.js";
import { AllPoolsWatch, type StreamPosition } from "./all-pools-watch.js";
import { redactUrl } from "../../config/redact-url.js";
import { redisLocation, type RedisTopology, type ReplicaAck } from "../../config/redis-topology.js";
import { ReplicaAcks } from "./replica-ack.js";
import { connectWithin, createClient, unavailableMessage, type ConnectionOptions, type RedisClient } from "./connection.js";
import { EVENTS_KEY, META_KEY, poolKeys } from "./keys.js";
import * as lua from "./lua/pool-scripts.js";
import { LuaScript } from "./lua-script.js";
import { PoolDiscovery } from "./pool-discovery.js";
import { dueReportOf, PoolIndex } from "./pool-index.js";
import { assignQueueRules, type LeaseAnswer } from "./blocked-assign.js";
import { QueuedWaits, type SettleMode } from "./queued-wait.js";
import { PoolStream, type StreamSink } from "./pool-stream.js";
import { Reaper, type ReaperOptions } from "./reaper.js";
import { RedisLateError, ringAndDeadline, within } from "./deadline.js";
import { keepAliveResultsOf, leaseOf, list, statsOf, tokenInfoOf, type Json } from "./lua-replies.js";

export interface RedisStoreOptions {
  readonly url: string;
  /** One server (default), a Cluster seeded by `url`, or the primary Sentinel names. */
  readonly topology?: RedisTopology;
  /** Replicas that must confirm each mutating call (WAIT); default none. */
  readonly replicaAck?: ReplicaAck;
  /** Events each pool's stream keeps for resuming watches (XADD MAXLEN ~); use one value on all replicas. */
  readonly eventRingSize: number;
  /** Events a watcher may lag before it is cut off. */
  readonly watchBuffer: number;
  readonly log: Logger;
  readonly commandTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** How long open() waits for Redis before giving up. */
  readonly startTimeoutMs?: number;
  readonly reaper?: Partial<ReaperOptions>;
  /** Timers expired per REAP script call. */
  readonly reapBatch?: number;
  /** How often all-pools watches list the pools again (creations also announce themselves at once). */
  readonly poolRescanMs?: number;
  /** Told each write script's round trip (its commit) and how late each expiry ran (metrics). */
  readonly observer?: StoreObserver;
  /**
   * How long this replica's waiters stay eligible for grants without a renewal (renewed every third of
   * it): a killed replica's queued waiters are dropped once it has passed, never granted.
   */
  readonly waiterLivenessMs?: number;
}

const scripts = {
  createPool: new LuaScript("create_pool", lua.CREATE_POOL),
  deletePool: new LuaScript("delete_pool", lua.DELETE_POOL),
  generate: new LuaScript("generate", lua.GENERATE),
  assign: new LuaScript("assign", lua.ASSIGN),
  keepAlive: new LuaScript("keep_alive", lua.KEEP_ALIVE),
  release: new LuaScript("release", lua.RELEASE),
  releaseOldestRecyclable: new LuaScript("releaseOldestRecyclable", lua.RELEASE_OLDEST_RECYCLABLE),
  deleteToken: new LuaScript("delete_token", lua.DELETE_TOKEN),
  settleWaiter: new LuaScript("settle_waiter", lua.SETTLE_WAITER),
  renewLiveness: new LuaScript("renew_liveness", lua.RENEW_LIVENESS),
  reap: new LuaScript("reap", lua.REAP),
  getPool: new LuaScript("get_pool", lua.GET_POOL),
  getToken: new LuaScript("get_token", lua.GET_TOKEN),
  watchPosition: new LuaScript("watch_position", lua.WATCH_POSITION),
  assignMany: new LuaScript("assign_many", lua.ASSIGN_MANY),
  settleGang: new LuaScript("settle_gang", lua.SETTLE_GANG),
  updatePool: new LuaScript("update_pool", lua.UPDATE_POOL),
  listTokens: new LuaScript("list_tokens", lua.LIST_TOKENS),
  setCordon: new LuaScript("set_cordon", lua.SET_CORDON),
};

/** Scripts that only read: their round trips are not commits. */
const READ_ONLY: ReadonlySet<LuaScript> = new Set([scripts.getPool, scripts.getToken, scripts.watchPosition, scripts.listTokens]);

/**
 * Writes no caller is answered from, so no WAIT: expiry (a lost expiry is applied again by the next
 * reap after a failover). SETTLE_WAITER does wait: a blocked assign's grant was written by another
 * call, and WAIT after the settle (a later write on the same replication stream) covers it too.
 */
const UNACKED: ReadonlySet<LuaScript> = new Set([...READ_ONLY, scripts.reap]);

const fail = (error: StoreError): { ok: false; error: StoreError } => ({ ok: false, error });

/** Thrown by open() when Redis cannot be reached at start. */
export class RedisOpenError extends Error {}

export class RedisStore implements Store {
  readonly kind = "redis" as const;
  private readonly index: PoolIndex;
  private readonly reaper: Reaper;
  private readonly streams = new Map<string, PoolStream>();
  private readonly discovery: PoolDiscovery;
  private readonly allPoolsWatches = new Set<AllPoolsWatch>();
  /** Assigns waiting in a pool's queue, and gangs (AssignTokens) in its gang queue. */
  private readonly waits: QueuedWaits;
  /** Where Redis is (topology and redacted address), for messages. */
  private readonly where: string;
  private readonly connection: ConnectionOptions;
  /** Set when --redis-min-replicas-ack asks for replica acknowledgements. */
  private readonly acks: ReplicaAcks | undefined;
  /** Names this replica's waiters in Redis (their liveness lease); new at every start. */
  private readonly replicaId = randomUUID();
  private readonly livenessMs: number;
  /** Longest one call may spend on Redis, all its commands together. */
  private readonly timeoutMs: number;
  /** Redis clock minus this replica's clock, for the "not after" deadline each script carries. */
  private clockOffsetMs = 0;
  private clockMeasured = false;
  private clockTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly client: RedisClient,
    private readonly options: RedisStoreOptions,
  ) {
    const ack = options.replicaAck;
    this.acks = ack && ack.minReplicas > 0 ? new ReplicaAcks(client, ack) : undefined;
    this.where = redisLocation(options.topology ?? { kind: "single" }, redactUrl(options.url));
    this.livenessMs = options.waiterLivenessMs ?? 3000;
    this.waits = new QueuedWaits({
      renew: async (pool) => void (await this.exec(scripts.renewLiveness, pool, [this.replicaId, this.livenessMs])),
      renewEveryMs: Math.max(1, Math.floor(this.livenessMs / 3)),
      stream: (pool, incarnation, from) => this.stream(pool, incarnation, from),
      where: this.where,
    });
    this.connection = {
      url: options.url,
      ...(options.topology && { topology: options.topology }),
      commandTimeoutMs: options.commandTimeoutMs ?? 3000,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    };
    this.timeoutMs = this.connection.commandTimeoutMs;
    this.index = new PoolIndex(client, this.timeoutMs);
    this.discovery = new PoolDiscovery({
      index: this.index,
      connection: this.connection,
      rescanMs: options.poolRescanMs ?? 1000,
      log: options.log,
    });
    this.reaper = new Reaper(
      this.index,
      (pool) => this.reapPool(pool),
      { poolsPerClaim: 32, claimMs: 2000, maxSleepMs: 1000, sweepMs: 30_000, ...options.reaper },
      options.log,
    );
    let healthy = true;
    client.on("error", (e: unknown) => {
      if (!healthy) return;
      healthy = false;
      options.log.warn({ err: e, redis: this.where }, "redis connection lost; calls fail with UNAVAILABLE until it is back");
    });
    client.on("ready", () => {
      if (healthy) return;
      healthy = true;
      options.log.info({ redis: this.where }, "redis connection restored");
    });
  }

  /** Connects (retrying up to startTimeoutMs) and starts this replica's reaper. */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    const client = createClient({
      url: options.url,
      ...(options.topology && { topology: options.topology }),
      commandTimeoutMs: options.commandTimeoutMs ?? 3000,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    });
    const store = new RedisStore(client, options);
    try {
      await connectWithin(client, options.startTimeoutMs ?? 10_000);
    } catch (e) {
      client.disconnect();
      const where = redisLocation(options.topology ?? { kind: "single" }, redactUrl(options.url));
      throw new RedisOpenError(`cannot reach Redis at ${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
    await store.measureClock().catch(() => undefined);
    // Clocks drift apart (and Redis time moves with a failover): measured again every 10 s.
    store.clockTimer = setInterval(() => void store.measureClock().catch(() => undefined), 10_000);
    store.clockTimer.unref();
    store.reaper.start();
    return store;
  }

  /** Undefined while the command connection to Redis is up (a health signal, not a guarantee). */
  notReadyReason(): string | undefined {
    if (this.closed) return "store closed";
    return this.client.status === "ready" ? undefined : `Redis at ${this.where} unreachable (connection ${this.client.status})`;
  }

  async createPool(name: string, config: Partial<PoolConfig>, initialTokens: number): Promise<Result<PoolStats, StoreError>> {
    const full: PoolConfig = { ...DEFAULT_POOL_CONFIG, ...config };
    const problem = checkPool(name, full);
    if (problem) return fail(problem);
    const ids = initialTokens <= full.maxTokens ? freshTokenIds(initialTokens) : [];
    if (ids === undefined) return fail({ code: "TOKEN_EXISTS", pool: name, token: "" });
    return this.guard(async () => {
      const incarnation = randomTokenId();
      // Listed before it exists, so a live pool is never missing from ListPools.
      await this.index.add(name, incarnation);
      const reply = await this.exec(scripts.createPool, name, [
        full.leaseTtlMs,
        full.idleTtlMs,
        full.maxTokens,
        incarnation,
        full.maxLeasesPerOwner,
        initialTokens,
        ...ids,
      ]);
      if (reply.err !== undefined) {
        // Our index entry must not outlive this failure: give it back to the pool that exists, or drop it.
        if (reply.err === "POOL_EXISTS") await this.index.add(name, String(reply.inc));
        if (reply.err === "POOL_FULL") await this.index.remove(name, incarnation, "0");
        return fail(this.coreError(reply, name));
      }
      return { ok: true, value: statsOf(name, reply.stats) };
    });
  }

  async getPool(name: string): Promise<Result<PoolStats, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.getPool, name, []);
      return reply.err !== undefined ? fail(this.coreError(reply, name)) : { ok: true, value: statsOf(name, reply.stats) };
    });
  }

  async listPools(afterName: string | undefined, limit: number): Promise<Result<PoolStats[], StoreError>> {
    return this.guard(async () => {
      const out: PoolStats[] = [];
      let after = afterName;
      while (out.length < limit) {
        const want = Math.min(limit - out.length, 1000);
        const names = await this.index.names(after, want);
        const stats = await Promise.all(names.map((n) => this.getPool(n)));
        for (const s of stats) {
          if (s.ok) out.push(s.value);
          else if (s.error.code !== "POOL_NOT_FOUND") return s; // an index entry left by a deleted pool is skipped
        }
        if (names.length < want) break;
        after = names[names.length - 1];
      }
      return { ok: true, value: out };
    });
  }

  async deletePool(name: string): Promise<Result<void, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.deletePool, name, []);
      if (reply.err !== undefined) return fail(this.coreError(reply, name));
      await this.index.remove(name, String(reply.inc), String(reply.created));
      return { ok: true, value: undefined };
    });
  }

  async generate(
    pool: string,
    spec: { count: number } | { ids: readonly string[] },
  ): Promise<Result<{ tokens: string[]; available: number }, StoreError>> {
    return this.guard(async () => {
      const badCount = "count" in spec ? checkCount(spec.count) : undefined;
      if (badCount) return this.afterPoolCheck(pool, badCount);
      const given = "ids" in spec ? spec.ids : undefined;
      const bad = given ? given.findIndex((id, i) => checkTokenId(id, `tokens[${i}]`) !== undefined) : -1;
      // A random id colliding with one in the pool is astronomically unlikely; draw again if it happens.
      for (let attempt = 0; ; attempt++) {
        const ids = given ? [...given] : freshTokenIds((spec as { count: number }).count);
        if (ids === undefined) return fail({ code: "TOKEN_EXISTS", pool, token: "" });
        const reply = await this.exec(scripts.generate, pool, [bad + 1, ...ids]);
        if (reply.err === undefined) return { ok: true, value: { tokens: ids, available: Number(reply.available) } };
        if (reply.err === "INVALID_ARGUMENT" && given) return fail(checkTokenId(given[bad] ?? "", `tokens[${bad}]`)!);
        if (reply.err === "TOKEN_EXISTS" && !given && attempt < 3) continue;
        return fail(this.coreError(reply, pool));
      }
    });
  }

  async assign(pool: string, owner: string, options: StoreAssignOptions): Promise<LeaseAnswer> {
    const invalid = checkOwner(owner) ?? (options.leaseTtlMs !== undefined ? checkLeaseTtl(options.leaseTtlMs) : undefined);
    const waitMs = options.waitMs !== undefined && options.waitMs > 0 && !options.signal?.aborted ? options.waitMs : 0;
    const claim = waitMs > 0 ? randomUUID() : "";
    // Not bounded as a whole: the wait is as long as the caller asked; each Redis call in it is.
    return this.guard(async () => {
      const reply = await this.exec(scripts.assign, pool, [
        owner,
        options.leaseTtlMs ?? 0,
        options.requestId ?? "",
        waitMs,
        invalid ? "1" : "0",
        options.recyclable === true ? "1" : "0",
        this.replicaId,
        claim,
        this.livenessMs,
      ]);
      if (reply.err === "INVALID_ARGUMENT" && invalid) return fail(invalid);
      if (reply.err !== undefined) return fail(this.coreError(reply, pool, "", owner));
      if (reply.waiting === undefined) {
        return { ok: true, value: { lease: leaseOf(pool, reply.lease), available: Number(reply.available) } };
      }
      const queued = { pool, waiterId: Number(reply.waiting), registeredAt: Number(reply.sequence), incarnation: String(reply.created), waitMs };
      const settle = (mode: SettleMode): Promise<Json> => this.exec(scripts.settleWaiter, pool, [queued.waiterId, mode, claim]);
      return this.waits.wait(queued, options.signal, assignQueueRules(pool, settle));
    }, false);
  }

  async keepAlive(pool: string, tokens: readonly string[]): Promise<Result<KeepAliveResult[], StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.keepAlive, pool, tokens);
      return reply.err !== undefined ? fail(this.coreError(reply, pool)) : { ok: true, value: keepAliveResultsOf(pool, reply.results) };
    });
  }

  async release(pool: string, token: string, options: ReleaseOptions): Promise<Result<{ available: number }, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.release, pool, [
        token,
        options.generation ?? "",
        options.owner !== undefined ? "1" : "0",
        options.owner ?? "",
      ]);
      if (reply.err === "LEASE_MISMATCH") {
        return fail(
          reply.generation !== undefined
            ? leaseMismatch(pool, token, { generation: Number(reply.generation), asked: options.generation ?? 0 })
            : leaseMismatch(pool, token, { owner: String(reply.owner), asked: options.owner ?? "" }),
        );
      }
      if (reply.err !== undefined) return fail(this.coreError(reply, pool, token));
      return { ok: true, value: { available: Number(reply.available) } };
    });
  }

  async releaseOldestRecyclable(pool: string): Promise<Result<{ released: string | undefined; available: number }, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.releaseOldestRecyclable, pool, []);
      if (reply.err !== undefined) return fail(this.coreError(reply, pool));
      const released = reply.released === undefined ? undefined : String(reply.released);
      return { ok: true, value: { released, available: Number(reply.available) } };
    });
  }

  async deleteToken(pool: string, token: string): Promise<Result<void, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.deleteToken, pool, [token]);
      return reply.err !== undefined ? fail(this.coreError(reply, pool, token)) : { ok: true, value: undefined };
    });
  }

  async getToken(pool: string, token: string): Promise<Result<TokenInfo, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.getToken, pool, [token]);
      if (reply.err !== undefined) return fail(this.coreError(reply, pool, token));
      const lease = reply.lease ? leaseOf(pool, reply.lease) : undefined;
      return {
        ok: true,
        value: {
          pool,
          token,
          state: lease ? "held" : "free",
          idleExpireTime: reply.ix === undefined ? undefined : Number(reply.ix),
          lease,
          cordoned: reply.cd === true,
        },
      };
    });
  }

  async updatePool(name: string, changes: Partial<PoolConfig>): Promise<Result<PoolStats, StoreError>> {
    return this.guard(async () => {
      // The merged config passes the same checks as the core's; each field is then set on its own.
      const current = await this.getPool(name);
      if (!current.ok) return current;
      const problem = checkPool(name, { ...current.value.config, ...changes });
      if (problem) return fail(problem);
      const field = (v: number | undefined): string | number => (v === undefined ? "" : v);
      const reply = await this.exec(scripts.updatePool, name, [
        field(changes.leaseTtlMs),
        field(changes.idleTtlMs),
        field(changes.maxTokens),
        field(changes.maxLeasesPerOwner),
      ]);
      if (reply.err === "BELOW_TOTAL") {
        return fail({ code: "INVALID_ARGUMENT", field: "max_tokens", message: `must not be below the ${Number(reply.total)} tokens the pool holds` });
      }
      return reply.err !== undefined ? fail(this.coreError(reply, name)) : { ok: true, value: statsOf(name, reply.stats) };
    });
  }

  async assignMany(
    pool: string,
    owner: string,
    count: number,
    options: StoreAssignOptions & { readonly maxCount: number },
  ): Promise<Result<{ leases: Lease[]; available: number }, StoreError>> {
    const invalid =
      checkGangSize(count, options.maxCount) ?? checkOwner(owner) ?? (options.leaseTtlMs !== undefined ? checkLeaseTtl(options.leaseTtlMs) : undefined);
    const waitMs = options.waitMs !== undefined && options.waitMs > 0 && !options.signal?.aborted ? options.waitMs : 0;
    return this.guard(async () => {
      const reply = await this.exec(scripts.assignMany, pool, [
        owner,
        invalid ? 1 : count,
        options.leaseTtlMs ?? 0,
        options.requestId ?? "",
        waitMs,
        invalid ? "1" : "0",
        this.replicaId,
        this.livenessMs,
      ]);
      if (reply.err === "INVALID_ARGUMENT" && invalid) return fail(invalid);
      if (reply.err !== undefined) return fail(this.coreError(reply, pool, "", owner));
      if (reply.waiting === undefined) {
        return { ok: true, value: { leases: list(reply.leases).map((l) => leaseOf(pool, l)), available: Number(reply.available) } };
      }
      const queued = { pool, waiterId: Number(reply.waiting), registeredAt: Number(reply.sequence), incarnation: String(reply.created), waitMs };
      const settle = (mode: SettleMode): Promise<Json> => this.exec(scripts.settleGang, pool, [queued.waiterId, mode]);
      return this.waits.wait(queued, options.signal, gangQueueRules(pool, settle));
    }, false); // the wait is as long as the caller asked; each Redis call in it is bounded
  }

  async listTokens(pool: string, query: TokenQuery): Promise<Result<TokenPage, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.listTokens, pool, [query.after ?? "", query.limit, query.state ?? "", query.owner ?? ""]);
      if (reply.err !== undefined) return fail(this.coreError(reply, pool));
      const tokens = list(reply.tokens).map((t) => tokenInfoOf(pool, t));
      return { ok: true, value: { tokens, next: typeof reply.next === "string" ? reply.next : undefined } };
    });
  }

  async setCordoned(pool: string, token: string, cordoned: boolean): Promise<Result<TokenInfo, StoreError>> {
    return this.guard(async () => {
      const reply = await this.exec(scripts.setCordon, pool, [token, cordoned ? "1" : "0"]);
      if (reply.err !== undefined) return fail(this.coreError(reply, pool, token));
      return { ok: true, value: tokenInfoOf(pool, { ...reply, k: token }) };
    });
  }

  async watch(pool: string, afterSequence: number | undefined): Promise<Result<Watch, StoreError | WatchEnd>> {
    // Bounded call by call, not as a whole: a watch set up after its caller was answered would leak.
    return this.guard(async (): Promise<Result<Watch, StoreError | WatchEnd>> => {
      const at = await this.position(pool);
      if (!at) return fail({ code: "POOL_NOT_FOUND", pool });
      const { last, oldest } = at;
      const start = afterSequence ?? last;
      if (start < last && (oldest === undefined || start + 1 < oldest)) {
        const end: WatchEnd = { code: "OUT_OF_RANGE", pool, oldestSequence: oldest ?? last + 1, requested: start };
        return { ok: false, error: end };
      }
      let stream: PoolStream | undefined;
      const sub = new Subscription(pool, this.options.watchBuffer, (s) => stream?.removeSubscription(s), start);
      stream = this.stream(pool, at.incarnation, last);
      // A watcher asking for a future sequence gets live events, as with the in-process hub.
      stream.addSubscription(sub, Math.min(start, last));
      const watch: Watch = sub;
      return { ok: true, value: watch };
    }, false);
  }

  async watchAll(): Promise<Result<Watch, StoreError>> {
    return this.guard(async (): Promise<Result<Watch, StoreError>> => {
      const watch = new AllPoolsWatch({
        bufferLimit: this.options.watchBuffer,
        locate: (pool) => this.position(pool),
        follow: (pool, at, sink, after) => this.follow(pool, at, sink, after),
        list: () => this.discovery.list(),
        listen: (onNames) => this.discovery.listen(onNames),
        onEnd: (w) => this.allPoolsWatches.delete(w),
      });
      this.allPoolsWatches.add(watch);
      try {
        await watch.start();
      } catch (e) {
        watch.subscription.end();
        throw e;
      }
      const live: Watch = watch.subscription;
      return { ok: true, value: live };
    }, false);
  }

  /** Watch streams with a reader loop open on this replica (for tests and metrics). */
  streamCount(): number {
    return this.streams.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.clockTimer);
    await this.reaper.stop();
    await this.waits.shutdownAll();
    for (const watch of [...this.allPoolsWatches]) watch.subscription.end({ code: "SHUTDOWN" });
    this.discovery.close();
    for (const stream of [...this.streams.values()]) {
      stream.stop(
        (sub) => sub.end({ code: "SHUTDOWN" }),
        (w) => w.timedOut(false),
      );
    }
    this.streams.clear();
    await this.client.quit().catch(() => undefined);
    // Also after QUIT: through Sentinel, only disconnect() ends the failover detector's sentinel connections.
    this.client.disconnect();
  }

  // ---- internals -------------------------------------------------------------------------------

  /**
   * Runs a pool script within the Redis timeout (a script reaching Redis after it does nothing);
   * forwards a due time it reports to the global index and wakes the reaper.
   */
  private async exec(script: LuaScript, pool: string, args: readonly (string | number)[]): Promise<Json> {
    const started = performance.now();
    const keys = poolKeys(pool);
    // The deadline rides in ARGV[1]: a script reaching Redis after it does nothing (see the prelude).
    const params = [ringAndDeadline(this.options.eventRingSize, Date.now() + this.clockOffsetMs + this.timeoutMs), ...args];
    const reply = await within(this.acks && !UNACKED.has(script) ? this.acks.run(script, keys, params) : script.json(this.client, keys, params), this.timeoutMs);
    if (reply.err === "LATE") throw new RedisLateError();
    const observer = this.options.observer;
    if (observer) {
      if (!READ_ONLY.has(script)) observer.commit((performance.now() - started) / 1000);
      if (Array.isArray(reply.late)) for (const ms of reply.late) observer.expiryLateness(Number(ms) / 1000);
      if (reply.orphans !== undefined) observer.waitersOrphaned?.(Number(reply.orphans));
    }
    const due = dueReportOf(reply.due);
    if (due) {
      try {
        await this.index.setDue(pool, due);
        if (due[0] !== "") this.reaper.poke(Number(due[0]));
      } catch (e) {
        // The write itself is done; the reapers' periodic sweep re-advertises this pool's deadline.
        this.options.log.warn({ err: e, pool }, "could not report a deadline to the due index");
      }
    }
    return reply;
  }

  /**
   * Redis TIME against the local clock at the middle of the round trip; a sample from a slow round
   * trip (a busy event loop, a stalled Redis) is dropped, as its error is half that round trip.
   */
  private async measureClock(): Promise<void> {
    const t0 = Date.now();
    const [seconds, micros] = await within(this.client.time(), this.timeoutMs);
    const t1 = Date.now();
    if (t1 - t0 > 100 && this.clockMeasured) return;
    this.clockMeasured = true;
    this.clockOffsetMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (t0 + t1) / 2;
  }

  private async reapPool(pool: string): Promise<{ gone: boolean; more: boolean }> {
    const reply = await this.exec(scripts.reap, pool, [this.options.reapBatch ?? 1000]);
    return { gone: reply.gone === true, more: reply.more === true };
  }

  /**
   * Maps Redis failures (never pool rules) to UNAVAILABLE; `bounded` answers UNAVAILABLE once the
   * Redis timeout has passed, however many calls the operation makes (what is still running then may
   * or may not apply: each script refuses to run after its own deadline, see exec()).
   */
  private async guard<T, E extends StoreError | WatchEnd>(
    work: () => Promise<Result<T, E>>,
    bounded = true,
  ): Promise<Result<T, E | StoreError>> {
    if (this.closed) return fail({ code: "UNAVAILABLE", message: "server is shutting down" });
    try {
      return await (bounded ? within(work(), this.timeoutMs) : work());
    } catch (e) {
      return fail({ code: "UNAVAILABLE", message: unavailableMessage(e, this.where) });
    }
  }

  /** The core reports POOL_NOT_FOUND before argument problems; so does this store. */
  private async afterPoolCheck<T>(pool: string, problem: CoreError): Promise<Result<T, StoreError>> {
    const exists = await this.getPool(pool);
    return fail(exists.ok ? problem : exists.error);
  }

  private coreError(reply: Json, pool: string, token = "", owner = ""): CoreError {
    switch (reply.err) {
      case "OWNER_QUOTA_EXCEEDED":
        return { code: "OWNER_QUOTA_EXCEEDED", pool, owner, limit: Number(reply.limit), used: Number(reply.used), requested: Number(reply.requested) };
      case "POOL_NOT_FOUND":
      case "POOL_EXISTS":
        return { code: reply.err, pool };
      case "POOL_EXHAUSTED":
        return { code: "POOL_EXHAUSTED", pool, waiters: Number(reply.waiters ?? 0) };
      case "POOL_FULL":
        return { code: "POOL_FULL", pool, maxTokens: Number(reply.maxTokens) };
      case "TOKEN_EXISTS":
        return { code: "TOKEN_EXISTS", pool, token: String(reply.token) };
      case "TOKEN_NOT_FOUND":
      case "NOT_HELD":
        return { code: reply.err, pool, token };
      default:
        throw new Error(`unexpected reply from Redis script: ${JSON.stringify(reply)}`);
    }
  }

  /** Where the pool's event stream stands, or undefined when there is no such pool. */
  private async position(pool: string): Promise<StreamPosition | undefined> {
    const pos = await this.exec(scripts.watchPosition, pool, []);
    if (pos.err === "POOL_NOT_FOUND") return undefined;
    if (pos.err !== undefined) throw new Error(`unexpected reply from Redis script: ${JSON.stringify(pos)}`);
    return {
      incarnation: String(pos.created),
      last: Number(pos.sequence),
      oldest: pos.oldest === undefined ? undefined : Number(pos.oldest),
    };
  }

  /** Delivers one pool's events after `after` to an all-pools watch's share in that pool. */
  private follow(pool: string, at: StreamPosition, sink: StreamSink, after: number): PoolStream {
    const stream = this.stream(pool, at.incarnation, at.last);
    stream.addSubscription(sink, Math.min(after, at.last));
    return stream;
  }

  /** This replica's reader loop for a pool incarnation, started at `from` if it is new. */
  private stream(pool: string, incarnation: string, from: number): PoolStream {
    const existing = this.streams.get(pool);
    if (existing && !existing.closed && existing.incarnation === incarnation) return existing;
    // A loop still following a deleted incarnation of this name: end it as the pool it follows is gone.
    existing?.stop(
      (sub) => sub.end({ code: "POOL_DELETED", pool }),
      (w) => w.timedOut(true),
    );
    const keys = poolKeys(pool);
    const stream = new PoolStream(
      {
        pool,
        streamKey: keys[EVENTS_KEY]!,
        connection: this.connection,
        command: this.client,
        incarnation: async () => (await this.client.hget(keys[META_KEY]!, "created")) ?? undefined,
        bufferLimit: this.options.watchBuffer,
        ...(this.options.replicaAck && { replicaAck: this.options.replicaAck }),
        onIdle: (s) => {
          if (this.streams.get(pool) === s) this.streams.delete(pool);
        },
        log: this.options.log,
      },
      incarnation,
      from,
    );
    this.streams.set(pool, stream);
    return stream;
  }
}
