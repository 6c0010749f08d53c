// The Redis store against the in-process core: the same operation sequences (random, and timed
// scenarios) run on a memory LocalStore and a RedisStore must give the same answers and the same
// events with the same sequences. Both stores pick free tokens at random, so tokens are compared up
// to a bijection built as assignments happen (free tokens are interchangeable while no deadline falls due).

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lease, LeaseEvent, PoolConfig, Result } from "../../src/core/types.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import { LocalStore } from "../../src/store/local-store.js";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import type { Store, Watch } from "../../src/store/store.js";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { sleep } from "../harness/sleep.js";


/** Memory token id -> Redis token id, for every token alive on both sides. */
class Bijection {
  private readonly toRedis = new Map<string, string>();
  private readonly toMemory = new Map<string, string>();

  r(memoryToken: string): string {
    const paired = this.toRedis.get(memoryToken);
    if (paired !== undefined) return paired;
    // Unpaired (never existed or deleted): a name no live Redis token can have.
    return this.toMemory.has(memoryToken) ? `<gone:${memoryToken}>` : memoryToken;
  }

  pair(m: string, r: string): void {
    const r0 = this.toRedis.get(m);
    const m1 = this.toMemory.get(r);
    this.toRedis.set(m, r);
    this.toMemory.set(r, m);
    // Swap partners: the two free tokens that were paired with them are interchangeable.
    if (r0 !== undefined && m1 !== undefined && r0 !== r) {
      this.toRedis.set(m1, r0);
      this.toMemory.set(r0, m1);
    }
  }

  /** A token generated under the same id on both sides. */
  same(id: string): void {
    this.toRedis.set(id, id);
    this.toMemory.set(id, id);
  }

  forget(m: string): void {
    const r = this.toRedis.get(m);
    this.toRedis.delete(m);
    if (r !== undefined) this.toMemory.delete(r);
  }
}

/** Reads a watch without blocking the test: events arrive in the background. */
class Tail {
  readonly events: LeaseEvent[] = [];
  private last = 0;
  ended = false;
  constructor(readonly watch: Watch) {
    void (async () => {
      for await (const e of watch) {
        this.events.push(e);
        this.last = e.sequence;
      }
      this.ended = true;
    })();
  }
  /** Events received since the last call, once those up to `sequence` are in (or after 1 s). */
  async upTo(sequence: number): Promise<LeaseEvent[]> {
    for (let i = 0; i < 200 && this.last < sequence && !this.ended; i++) await sleep(5);
    return this.events.splice(0);
  }
}

const set = (t: number | undefined): string => (t === undefined ? "-" : "set");

function leaseShape(l: Lease | undefined, token: (t: string) => string): unknown {
  if (!l) return undefined;
  return { ...l, token: token(l.token), expireTime: set(l.expireTime), idleExpireTime: set(l.idleExpireTime) };
}

function eventShape(e: LeaseEvent, token: (t: string) => string): unknown {
  return {
    ...e,
    token: e.token === "" ? "" : token(e.token),
    time: set(e.time),
    expireTime: set(e.expireTime),
    idleExpireTime: set(e.idleExpireTime),
    waiterId: set(e.waiterId),
  };
}

function errorShape(r: Result<unknown, { code: string }>, token: (t: string) => string): unknown {
  if (r.ok) return "ok";
  const e = r.error as { code: string; token?: string };
  return { ...e, ...(e.token !== undefined && { token: token(e.token) }) };
}

type Op =
  | { kind: "generateIds"; fresh: number; dup: number | undefined; bad: boolean }
  | { kind: "generateCount"; count: number }
  | { kind: "assign"; owner: string; requestId: string | undefined; leaseTtlMs: number | undefined; recyclable: boolean }
  | { kind: "recycle" }
  | { kind: "release"; ref: number; generation: "right" | "wrong" | "none"; owner: "right" | "wrong" | "none" }
  | { kind: "keepAlive"; refs: number[] }
  | { kind: "delete"; ref: number }
  | { kind: "get"; ref: number }
  | { kind: "recreate" };

const ref = fc.integer({ min: -1, max: 20 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("generateIds" as const), fresh: fc.integer({ min: 0, max: 2 }), dup: fc.option(ref, { nil: undefined }), bad: fc.boolean() }),
  fc.record({ kind: fc.constant("generateCount" as const), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant("assign" as const),
    owner: fc.constantFrom("alice", "bob", "x".repeat(300)),
    requestId: fc.option(fc.constantFrom("r1", "r2"), { nil: undefined }),
    leaseTtlMs: fc.option(fc.constantFrom(30_000, -1), { nil: undefined }),
    recyclable: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("recycle" as const) }),
  fc.record({
    kind: fc.constant("release" as const),
    ref,
    generation: fc.constantFrom("right" as const, "wrong" as const, "none" as const),
    owner: fc.constantFrom("right" as const, "wrong" as const, "none" as const),
  }),
  fc.record({ kind: fc.constant("keepAlive" as const), refs: fc.array(ref, { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant("delete" as const), ref }),
  fc.record({ kind: fc.constant("get" as const), ref }),
  fc.record({ kind: fc.constant("recreate" as const) }),
);

describe("redis store ≡ in-process core", () => {
  let redisServer: RedisServer;
  let redis: RedisStore;
  let memory: LocalStore;
  let poolCounter = 0;

  beforeAll(async () => {
    redisServer = await startRedisServer();
    redis = await RedisStore.open({ url: redisServer.url, eventRingSize: 1000, watchBuffer: 1000, log: createLogger("silent") });
    memory = new LocalStore({ kind: "memory", clock: systemClock, events: { ringSize: 1000, subscriberBuffer: 1000 } });
  });

  afterAll(async () => {
    await redis?.close();
    await memory?.close();
    await redisServer?.stop();
  });

  it("answers and emits the same for random operation sequences", async () => {
    await fc.assert(
      // Idle deadlines only ever compare as set/unset here (none falls due), so free tokens stay interchangeable.
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), fc.constantFrom(0, 120_000), async (ops, idleTtlMs) => {
        const pool = `d${++poolCounter}`;
        const config: Partial<PoolConfig> = { leaseTtlMs: 60_000, idleTtlMs, maxTokens: 6 };
        let pi = new Bijection();
        const known: string[] = []; // memory token ids ever generated
        const leases = new Map<string, Lease>(); // memory token -> its current lease, as the memory store said
        let freshCounter = 0;

        const open = async (): Promise<[Tail, Tail]> => {
          expect(errorShape(await memory.createPool(pool, config, 0), pi.r.bind(pi))).toEqual(
            errorShape(await redis.createPool(pool, config, 0), pi.r.bind(pi)),
          );
          const [wm, wr] = await Promise.all([memory.watch(pool, undefined), redis.watch(pool, undefined)]);
          if (!wm.ok || !wr.ok) throw new Error("watch failed");
          return [new Tail(wm.value), new Tail(wr.value)];
        };
        let [tm, tr] = await open();
        const tokenAt = (i: number): string => (i < 0 || known.length === 0 ? "ghost" : known[i % known.length]!);

        for (const o of ops) {
          const m = pi.r.bind(pi);
          switch (o.kind) {
            case "generateIds": {
              const ids = Array.from({ length: o.fresh }, () => `f${++freshCounter}`);
              if (o.dup !== undefined && known.length > 0) ids.push(tokenAt(o.dup));
              if (o.bad) ids.push("bad id");
              if (ids.length === 0) ids.push(`f${++freshCounter}`);
              const a = await memory.generate(pool, { ids });
              const b = await redis.generate(pool, { ids: ids.map(m) });
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              if (a.ok && b.ok) {
                expect(b.value.available).toBe(a.value.available);
                for (const id of ids) pi.same(id);
                known.push(...ids);
              }
              break;
            }
            case "generateCount": {
              const a = await memory.generate(pool, { count: o.count });
              const b = await redis.generate(pool, { count: o.count });
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              if (a.ok && b.ok) {
                a.value.tokens.forEach((t, i) => pi.pair(t, b.value.tokens[i]!));
                known.push(...a.value.tokens);
                expect(b.value.available).toBe(a.value.available);
              }
              break;
            }
            case "assign": {
              const options = {
                ...(o.requestId !== undefined && { requestId: o.requestId }),
                ...(o.leaseTtlMs !== undefined && { leaseTtlMs: o.leaseTtlMs }),
                ...(o.recyclable && { recyclable: true }),
              };
              const a = await memory.assign(pool, o.owner, options);
              const b = await redis.assign(pool, o.owner, options);
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              if (a.ok && b.ok) {
                pi.pair(a.value.lease.token, b.value.lease.token);
                leases.set(a.value.lease.token, a.value.lease);
                expect(leaseShape(b.value.lease, (t) => t)).toEqual(leaseShape(a.value.lease, pi.r.bind(pi)));
                expect(b.value.available).toBe(a.value.available);
              }
              break;
            }
            case "release": {
              const token = tokenAt(o.ref);
              const lease = leases.get(token);
              const options = {
                ...(o.generation !== "none" && { generation: (lease?.generation ?? 1) + (o.generation === "wrong" ? 7 : 0) }),
                ...(o.owner !== "none" && { owner: o.owner === "right" ? (lease?.owner ?? "alice") : "mallory" }),
              };
              const a = await memory.release(pool, token, options);
              const b = await redis.release(pool, m(token), options);
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              if (a.ok && b.ok) expect(b.value.available).toBe(a.value.available);
              break;
            }
            case "recycle": {
              const a = await memory.releaseOldestRecyclable(pool);
              const b = await redis.releaseOldestRecyclable(pool);
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              if (a.ok && b.ok) {
                expect(b.value.available).toBe(a.value.available);
                expect(b.value.released).toBe(a.value.released === undefined ? undefined : m(a.value.released));
              }
              break;
            }
            case "keepAlive": {
              const tokens = o.refs.map(tokenAt);
              const a = await memory.keepAlive(pool, tokens);
              const b = await redis.keepAlive(pool, tokens.map(m));
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              if (a.ok && b.ok) {
                const shape = (r: typeof a.value, tok: (t: string) => string): unknown =>
                  r.map((x) => ({ ...x, token: tok(x.token), idleExpireTime: set(x.idleExpireTime), lease: leaseShape(x.lease, tok) }));
                expect(shape(b.value, (t) => t)).toEqual(shape(a.value, m));
              }
              break;
            }
            case "delete": {
              const token = tokenAt(o.ref);
              const a = await memory.deleteToken(pool, token);
              const b = await redis.deleteToken(pool, m(token));
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              break;
            }
            case "get": {
              const token = tokenAt(o.ref);
              const a = await memory.getToken(pool, token);
              const b = await redis.getToken(pool, m(token));
              expect(errorShape(b, (t) => t)).toEqual(errorShape(a, m));
              if (a.ok && b.ok) {
                expect({ ...b.value, idleExpireTime: set(b.value.idleExpireTime), lease: leaseShape(b.value.lease, (t) => t) }).toEqual({
                  ...a.value,
                  token: m(a.value.token),
                  idleExpireTime: set(a.value.idleExpireTime),
                  lease: leaseShape(a.value.lease, m),
                });
              }
              break;
            }
            case "recreate": {
              expect(errorShape(await redis.deletePool(pool), (t) => t)).toEqual(errorShape(await memory.deletePool(pool), m));
              known.length = 0;
              leases.clear();
              pi = new Bijection();
              [tm, tr] = await open();
              break;
            }
          }
          const [sa, sb] = await Promise.all([memory.getPool(pool), redis.getPool(pool)]);
          expect(sb).toEqual(sa);
          const seq = sa.ok ? sa.value.sequence : 0;
          const [ea, eb] = await Promise.all([tm.upTo(seq), tr.upTo(seq)]);
          expect(eb.map((e) => eventShape(e, (t) => t))).toEqual(ea.map((e) => eventShape(e, pi.r.bind(pi))));
          // A deleted token leaves the bijection once its events have been compared.
          for (const t of [...known]) {
            const gone = !(await memory.getToken(pool, t)).ok;
            if (gone) pi.forget(t);
          }
        }
        tm.watch.end();
        tr.watch.end();
        await Promise.all([memory.deletePool(pool), redis.deletePool(pool)]);
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  /** Runs the same timed scenario on both stores; returns each store's events (tokens as given). */
  async function both(
    name: string,
    config: Partial<PoolConfig>,
    scenario: (s: Store, pool: string) => Promise<unknown>,
    settleMs: number,
  ): Promise<{ memory: unknown; redis: unknown }> {
    const out: Record<string, unknown> = {};
    await Promise.all(
      (
        [
          ["memory", memory],
          ["redis", redis],
        ] as const
      ).map(async ([label, store]) => {
        const pool = `${name}-${++poolCounter}`;
        const created = await store.createPool(pool, config, 0);
        if (!created.ok) throw new Error(JSON.stringify(created.error));
        const w = await store.watch(pool, undefined);
        if (!w.ok) throw new Error("watch failed");
        const tail = new Tail(w.value);
        const result = await scenario(store, pool);
        await sleep(settleMs);
        const stats = await store.getPool(pool);
        const events = await tail.upTo(stats.ok ? stats.value.sequence : Infinity);
        w.value.end();
        // Tokens are picked at random on each side: name them by first appearance instead.
        // GENERATED order says nothing about which token is picked later: those stay anonymous.
        const shaped = events.map((e) => eventShape(e, (t) => (e.type === "GENERATED" ? "<generated>" : t)));
        let text = JSON.stringify({ result, stats: stats.ok ? stats.value : stats.error, events: shaped });
        text = text.replaceAll(JSON.stringify(pool), '"<pool>"');
        const order = [...new Set(events.filter((e) => e.type !== "GENERATED" && e.token !== "").map((e) => e.token))];
        order.forEach((t, i) => (text = text.replaceAll(JSON.stringify(t), `"<token ${i}>"`)));
        out[label] = JSON.parse(text);
      }),
    );
    return { memory: out.memory, redis: out.redis };
  }

  const shapeOf = (r: Result<{ lease: Lease; available: number }, { code: string }>): unknown =>
    r.ok ? { lease: leaseShape({ ...r.value.lease, pool: "-" }, (t) => t), available: r.value.available } : r.error.code;

  it("expires leases, then idle tokens, at their deadlines", async () => {
    const { memory: a, redis: b } = await both("expire", { leaseTtlMs: 150, idleTtlMs: 100 }, async (s, pool) => {
      await s.generate(pool, { ids: ["t1", "t2"] });
      return shapeOf(await s.assign(pool, "o", {}));
    }, 700);
    expect(b).toEqual(a);
  });

  it("hands a released or expired token to the oldest waiter, and times waiters out", async () => {
    const { memory: a, redis: b } = await both("wait", { leaseTtlMs: 200, idleTtlMs: 0 }, async (s, pool) => {
      await s.generate(pool, { ids: ["only"] });
      const first = await s.assign(pool, "first", { leaseTtlMs: 60_000 });
      const w1 = s.assign(pool, "w1", { waitMs: 2000 });
      await sleep(30);
      const w2 = s.assign(pool, "w2", { waitMs: 2000, requestId: "rq" });
      await sleep(30);
      const late = s.assign(pool, "late", { waitMs: 150 });
      await sleep(30);
      if (first.ok) await s.release(pool, "only", { generation: first.value.lease.generation });
      const got1 = await w1; // then its 200 ms lease expires and goes to w2
      const got2 = await w2;
      return { w1: shapeOf(got1), w2: shapeOf(got2), late: shapeOf(await late) };
    }, 400);
    expect(b).toEqual(a);
  });

  it("hands newly generated tokens to queued waiters first", async () => {
    const { memory: a, redis: b } = await both("gen", { idleTtlMs: 60_000 }, async (s, pool) => {
      const w1 = s.assign(pool, "w1", { waitMs: 2000 });
      await sleep(30);
      const w2 = s.assign(pool, "w2", { waitMs: 2000 });
      await sleep(30);
      const generated = await s.generate(pool, { ids: ["a", "b", "c"] });
      return { generated: generated.ok ? generated.value : generated.error, w1: shapeOf(await w1), w2: shapeOf(await w2) };
    }, 0);
    expect(b).toEqual(a);
  });

  it("ends waiters with POOL_NOT_FOUND when their pool is deleted, and honours cancellation", async () => {
    const { memory: a, redis: b } = await both("del", { idleTtlMs: 0 }, async (s, pool) => {
      await s.generate(pool, { ids: ["one"] });
      await s.assign(pool, "holder", {});
      const abort = new AbortController();
      const cancelled = s.assign(pool, "c", { waitMs: 5000, signal: abort.signal });
      const waiting = s.assign(pool, "w", { waitMs: 5000 });
      await sleep(50);
      abort.abort();
      const c = shapeOf(await cancelled);
      await sleep(50);
      const stats = await s.getPool(pool);
      const waiters = stats.ok ? stats.value.waiters : -1;
      await s.deletePool(pool);
      return { c, waiters, w: shapeOf(await waiting) };
    }, 0);
    expect(b).toEqual(a);
  });
});
