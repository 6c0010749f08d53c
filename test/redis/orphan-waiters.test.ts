// Blocked AssignToken calls queued by a replica that is then SIGKILLed (issue 18): a dead replica's
// waiter is never granted a token nobody receives, and an idempotent retry on another replica (same
// owner and request_id) gets the lease its first attempt was queued for, or was already granted.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { reasonOf, replicaClient, startReplica, type Replica, type TokenClient } from "../harness/replica-process.js";
import { sleep } from "../harness/sleep.js";

/** The store's default waiter liveness: a dead replica's waiters are dropped once it has passed. */
const LIVENESS_MS = 3000;

describe("redis store × replica killed with queued waiters", () => {
  let redis: RedisServer;
  const replicas: Replica[] = [];
  let survivor: TokenClient;

  beforeAll(async () => {
    redis = await startRedisServer();
    // Three to kill (one per case) and one that survives them all.
    replicas.push(...(await Promise.all([0, 1, 2, 3].map(() => startReplica(redis.url)))));
    survivor = replicaClient(replicas[3]!.url);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => (r.child.exitCode === null && r.child.signalCode === null ? r.stop() : undefined)));
    await redis?.stop();
  });

  /** A one-token pool whose token a holder has taken, and owner O queued for it on `victim`. */
  async function queuedOnVictim(pool: string, victim: Replica): Promise<{ token: string; holderGen: bigint; first: Promise<string> }> {
    await survivor.createPool({ name: pool, initialTokens: 1, leaseTtl: { seconds: 30n }, idleTtl: { seconds: 0n } });
    const held = (await survivor.assignToken({ pool, owner: "H" })).lease!;
    const first = replicaClient(victim.url)
      .assignToken({ pool, owner: "O", requestId: "O-1", waitTimeout: { seconds: 30n } })
      .then(
        () => "OK",
        (e: unknown) => reasonOf(e),
      );
    for (let i = 0; i < 200 && (await survivor.getPool({ name: pool })).pool!.waiters !== 1; i++) await sleep(20);
    expect((await survivor.getPool({ name: pool })).pool!.waiters).toBe(1);
    return { token: held.token, holderGen: held.generation, first };
  }

  it("an idempotent retry on another replica takes over the dead replica's waiter and gets its lease", async () => {
    const { token, holderGen, first } = await queuedOnVictim("retry-queued", replicas[0]!);
    await replicas[0]!.kill();
    expect(await first).not.toBe("OK"); // the first attempt's caller never got an answer with a lease
    const retry = survivor.assignToken({ pool: "retry-queued", owner: "O", requestId: "O-1", waitTimeout: { seconds: 3n } });
    await sleep(300); // the retry is queued (or has taken the waiter over) before the token frees
    await survivor.releaseToken({ pool: "retry-queued", token, generation: holderGen, owner: "H" });
    const lease = (await retry).lease!;
    expect(lease).toMatchObject({ token, owner: "O", generation: holderGen + 1n });
    // The lease the retry got is the one Redis holds: nobody else was granted the token.
    const info = await survivor.getToken({ pool: "retry-queued", token });
    expect(info.lease).toMatchObject({ owner: "O", generation: lease.generation });
    expect((await survivor.getPool({ name: "retry-queued" })).pool).toMatchObject({ waiters: 0, held: 1, generation: holderGen + 1n });
  }, 30_000);

  it("never grants a dead replica's waiter: once its liveness lapsed, a freed token stays free", async () => {
    const { token, holderGen } = await queuedOnVictim("orphan", replicas[1]!);
    await replicas[1]!.kill();
    await sleep(LIVENESS_MS + 500);
    const freed = await survivor.releaseToken({ pool: "orphan", token, generation: holderGen, owner: "H" });
    expect(freed.available).toBe(1);
    const info = await survivor.getToken({ pool: "orphan", token });
    expect(info.token).toBe(token);
    expect(info.lease).toBeUndefined();
    expect((await survivor.getPool({ name: "orphan" })).pool).toMatchObject({ waiters: 0, held: 0, available: 1 });
    // The replica whose release met the dead waiter counted it.
    const metrics = await (await fetch(`${replicas[3]!.url}/metrics`)).text();
    expect(metrics).toMatch(/^tokenpool_redis_waiters_orphaned_total 1$/m);
    // A new caller gets it at once.
    const next = (await survivor.assignToken({ pool: "orphan", owner: "N" })).lease!;
    expect(next).toMatchObject({ token, generation: holderGen + 1n });
  }, 30_000);

  it("a retry finds the lease granted to its waiter just before the replica's death was noticed", async () => {
    const { token, holderGen } = await queuedOnVictim("retry-granted", replicas[2]!);
    await replicas[2]!.kill();
    // Within the liveness window the dead replica's waiter still looks alive and is granted the token...
    await survivor.releaseToken({ pool: "retry-granted", token, generation: holderGen, owner: "H" });
    // ...and the retry on another replica receives exactly that lease instead of waiting for another.
    const t0 = Date.now();
    const lease = (await survivor.assignToken({ pool: "retry-granted", owner: "O", requestId: "O-1", waitTimeout: { seconds: 3n } })).lease!;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(lease).toMatchObject({ token, owner: "O", generation: holderGen + 1n });
  }, 30_000);

  it("never serves a dead replica's gang (AssignTokens waiting): the gang queued behind it gets the tokens", async () => {
    const pool = "gang-orphan";
    const victim = await startReplica(redis.url);
    replicas.push(victim);
    await survivor.createPool({ name: pool, initialTokens: 2, leaseTtl: { seconds: 30n }, idleTtl: { seconds: 0n } });
    const held = (await survivor.assignTokens({ pool, owner: "H", count: 2 })).leases;
    expect(held).toHaveLength(2);
    const dead = replicaClient(victim.url)
      .assignTokens({ pool, owner: "O", count: 2, requestId: "O-gang", waitTimeout: { seconds: 30n } })
      .then(
        () => "OK",
        (e: unknown) => reasonOf(e),
      );
    const waiters = async (): Promise<number> => (await survivor.getPool({ name: pool })).pool!.waiters;
    for (let i = 0; i < 200 && (await waiters()) !== 1; i++) await sleep(20);
    expect(await waiters()).toBe(1);
    await victim.kill();
    expect(await dead).not.toBe("OK");
    // Queued behind the dead gang, on a live replica that keeps its own liveness lease renewed.
    const behind = survivor.assignTokens({ pool, owner: "P", count: 2, waitTimeout: { seconds: 15n } });
    for (let i = 0; i < 200 && (await waiters()) !== 2; i++) await sleep(20);
    expect(await waiters()).toBe(2);
    await sleep(LIVENESS_MS + 500);
    for (const l of held) await survivor.releaseToken({ pool, token: l.token, generation: l.generation, owner: "H" });
    const got = (await behind).leases;
    expect(got.map((l) => l.owner)).toEqual(["P", "P"]);
    expect(new Set(got.map((l) => l.token))).toEqual(new Set(held.map((l) => l.token)));
    for (const l of got) expect((await survivor.getToken({ pool, token: l.token })).lease).toMatchObject({ owner: "P", generation: l.generation });
    expect((await survivor.getPool({ name: pool })).pool).toMatchObject({ waiters: 0, held: 2, available: 0 });
  }, 40_000);
});
