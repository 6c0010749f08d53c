// A stopped Redis (SIGSTOP: its sockets stay open, nothing answers) under two replicas (issue 18):
// every call, whatever it does, answers UNAVAILABLE within the configured Redis timeout instead of
// hanging until the client's deadline, and no write answered that way takes effect after SIGCONT.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { reasonOf, replicaClient, startReplica, type Replica, type TokenClient } from "../harness/replica-process.js";
import { sleep } from "../harness/sleep.js";

const TIMEOUT_S = 1;
/** Scheduling slack on the loaded 2-core machine: the answer must come before timeout + this. */
const SLACK_MS = 1200;
const STOP_MS = 5000;
const POOL = "stall";

interface Outcome {
  readonly what: string;
  readonly reason: string;
  readonly ms: number;
}

describe("redis store × redis-server stopped (SIGSTOP)", () => {
  let redis: RedisServer;
  const replicas: Replica[] = [];
  const clients: TokenClient[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    replicas.push(...(await Promise.all([0, 1].map(() => startReplica(redis.url, ["--redis-timeout", String(TIMEOUT_S)])))));
    clients.push(...replicas.map((r) => replicaClient(r.url)));
  }, 60_000);

  afterAll(async () => {
    redis?.resume();
    await Promise.all(replicas.map((r) => r.stop()));
    await redis?.stop();
  });

  it("answers every call UNAVAILABLE within the Redis timeout and applies none of them later", async () => {
    const [c0, c1] = clients as [TokenClient, TokenClient];
    await c0.createPool({ name: POOL, initialTokens: 4, leaseTtl: { seconds: 60n }, idleTtl: { seconds: 0n } });
    await c0.createPool({ name: "full", initialTokens: 1, leaseTtl: { seconds: 60n }, idleTtl: { seconds: 0n } });
    const held = (await c0.assignToken({ pool: POOL, owner: "keeper" })).lease!;
    await c0.assignToken({ pool: "full", owner: "keeper" });
    const before = (await c1.getPool({ name: POOL })).pool!;
    // Queued before the stop: its wait ends during the stop.
    const waiting = Date.now();
    let earlyMs = 0;
    const queued = c1
      .assignToken({ pool: "full", owner: "early", waitTimeout: { nanos: 500_000_000 } })
      .then(
        () => "OK",
        (e: unknown) => reasonOf(e),
      )
      .finally(() => (earlyMs = Date.now() - waiting));
    await sleep(100);

    redis.pause();
    const stoppedAt = Date.now();
    const timed = async (what: string, call: () => Promise<unknown>): Promise<Outcome> => {
      const t0 = Date.now();
      const reason = await call().then(() => "OK", reasonOf);
      return { what, reason, ms: Date.now() - t0 };
    };
    // Every kind of call, on both replicas, three times: later rounds find the connection stuck with
    // earlier calls (auto-pipelined commands used to wait for those, one command timeout per round).
    const round = (c: TokenClient, r: number, n: number): Promise<Outcome>[] => [
      timed(`r${r} GetPool`, () => c.getPool({ name: POOL })),
      timed(`r${r} ListPools`, () => c.listPools({ pageSize: 10 })),
      timed(`r${r} AssignToken`, () => c.assignToken({ pool: POOL, owner: `stalled-${r}-${n}` })),
      timed(`r${r} AssignToken wait`, () => c.assignToken({ pool: "full", owner: `w${r}-${n}`, waitTimeout: { nanos: 300_000_000 } })),
      timed(`r${r} KeepAlive`, () => c.keepAlive({ pool: POOL, tokens: [held.token] })),
      timed(`r${r} ReleaseToken`, () => c.releaseToken({ pool: POOL, token: held.token, generation: held.generation })),
      timed(`r${r} GenerateTokens`, () => c.generateTokens({ pool: POOL, tokens: [`stall-${r}-${n}`] })),
      timed(`r${r} CreatePool`, () => c.createPool({ name: `stall-${r}-${n}` })),
      timed(`r${r} DeleteToken`, () => c.deleteToken({ pool: POOL, token: held.token })),
    ];
    const first = await Promise.all([...round(c0, 0, 0), ...round(c1, 1, 0)]);
    const second = await Promise.all([...round(c0, 0, 1), ...round(c1, 1, 1)]);
    const third = await Promise.all([...round(c0, 0, 2), ...round(c1, 1, 2)]);
    const early = await queued;
    await sleep(Math.max(0, STOP_MS - (Date.now() - stoppedAt)));
    redis.resume();

    // Back: nothing answered UNAVAILABLE above was applied once Redis ran again.
    let after = (await c1.getPool({ name: POOL }).catch(() => undefined))?.pool;
    for (let i = 0; i < 100 && !after; i++) {
      await sleep(50);
      after = (await c1.getPool({ name: POOL }).catch(() => undefined))?.pool;
    }
    await sleep(500); // whatever Redis had buffered has run by now
    after = (await c1.getPool({ name: POOL })).pool!;
    const token = await c0.getToken({ pool: POOL, token: held.token });
    const names = (await c0.listPools({ pageSize: 100 })).pools.map((p) => p.name);
    // The early waiter's deadline passed during the stop: a reaper drops it once Redis runs again.
    let fullPool = (await c0.getPool({ name: "full" })).pool!;
    for (let i = 0; i < 60 && fullPool.waiters !== 0; i++) {
      await sleep(50);
      fullPool = (await c0.getPool({ name: "full" })).pool!;
    }

    const slow = [...first, ...second, ...third].filter((o) => o.ms > TIMEOUT_S * 1000 + SLACK_MS || o.reason !== "UNAVAILABLE");
    console.log(`stall: ${[...first, ...second, ...third].map((o) => `${o.what} ${o.reason} ${o.ms} ms`).join("; ")}; queued waiter ${early} after ${earlyMs} ms`);
    expect(slow).toEqual([]);
    expect(early).toBe("UNAVAILABLE");
    expect(earlyMs).toBeLessThan(500 + TIMEOUT_S * 1000 + SLACK_MS + 100);
    // Not applied: the same lease, tokens, pools and waiters as before the stop.
    expect(after).toMatchObject({ total: before.total, held: before.held, generation: before.generation, waiters: 0 });
    expect(token.lease).toMatchObject({ owner: "keeper", generation: held.generation });
    expect(names.filter((n) => n.startsWith("stall-"))).toEqual([]);
    expect(fullPool).toMatchObject({ held: 1, waiters: 0, generation: 1n });
    // And the replicas serve again.
    expect((await c0.assignToken({ pool: POOL, owner: "after" })).lease?.owner).toBe("after");
  }, 60_000);
});
