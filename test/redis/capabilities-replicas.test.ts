// Issue 17's rules across two Redis replica processes on one redis-server: an owner quota holds when
// the owner's concurrent assigns are spread over both; a gang queued through one replica is served
// by releases through the other; and after kill -9 of a replica the other sees the cordons, quotas,
// gangs (a retry of the gang's request id) and UpdatePool'd config exactly as they were.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenState } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { reasonOf, replicaClient, startReplica, type Replica, type TokenClient } from "../harness/replica-process.js";
import { duration, durationMs } from "../harness/token-client.js";

let redis: RedisServer;
let a: Replica;
let b: Replica;
let ca: TokenClient;
let cb: TokenClient;

beforeAll(async () => {
  redis = await startRedisServer();
  [a, b] = await Promise.all([startReplica(redis.url), startReplica(redis.url)]);
  ca = replicaClient(a.url);
  cb = replicaClient(b.url);
}, 90_000);

afterAll(async () => {
  await Promise.allSettled([a?.stop(), b?.stop()]);
  await redis?.stop();
});

describe("redis replicas: quotas, gangs and cordons", () => {
  it("a quota holds under 40 concurrent assigns of one owner spread over two replicas", async () => {
    await ca.createPool({ name: "q", initialTokens: 20, maxLeasesPerOwner: 3, leaseTtl: duration(60_000) });
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => (i % 2 ? ca : cb).assignToken({ pool: "q", owner: "greedy" })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    for (const r of results) if (r.status === "rejected") expect(reasonOf(r.reason)).toBe("OWNER_QUOTA_EXCEEDED");
    expect((await cb.getPool({ name: "q" })).pool).toMatchObject({ held: 3, available: 17 });
  }, 60_000);

  it("a gang waiting on one replica is served by releases on the other, whole", async () => {
    await ca.createPool({ name: "g", leaseTtl: duration(60_000) });
    await ca.generateTokens({ pool: "g", tokens: ["t0", "t1", "t2"] });
    const held = await Promise.all([0, 1, 2].map(() => cb.assignToken({ pool: "g", owner: "single" })));
    const gang = ca.assignTokens({ pool: "g", owner: "gang", count: 2, waitTimeout: duration(15_000) });
    await new Promise((r) => setTimeout(r, 200));
    expect((await cb.getPool({ name: "g" })).pool).toMatchObject({ waiters: 1 });
    await cb.releaseToken({ pool: "g", token: held[0]!.lease!.token });
    await new Promise((r) => setTimeout(r, 100));
    expect((await cb.getPool({ name: "g" })).pool).toMatchObject({ available: 1, waiters: 1 }); // not a partial gang
    await cb.releaseToken({ pool: "g", token: held[1]!.lease!.token });
    const served = (await gang).leases;
    expect(served.map((l) => l.token).sort()).toEqual([held[0]!.lease!.token, held[1]!.lease!.token].sort());
    expect((await cb.getPool({ name: "g" })).pool).toMatchObject({ held: 3, available: 0, waiters: 0 });
  }, 60_000);

  it("after kill -9 of a replica the other serves the same cordons, quotas, gangs and config", async () => {
    await ca.createPool({ name: "k", idleTtl: duration(0), leaseTtl: duration(600_000), maxLeasesPerOwner: 3 });
    await ca.generateTokens({ pool: "k", tokens: ["k0", "k1", "k2", "k3", "k4"] });
    const gang = await ca.assignTokens({ pool: "k", owner: "job", count: 3, requestId: "try-1" });
    const gangTokens = gang.leases.map((l) => l.token).sort();
    const free = ["k0", "k1", "k2", "k3", "k4"].filter((t) => !gangTokens.includes(t));
    await ca.cordonToken({ pool: "k", token: free[0]! });
    await ca.cordonToken({ pool: "k", token: gangTokens[0]! });
    await ca.updatePool({ name: "k", leaseTtl: duration(300_000) });
    await a.kill();
    const pool = (await cb.getPool({ name: "k" })).pool!;
    expect(pool).toMatchObject({ total: 5, held: 3, available: 1, cordoned: 2, maxLeasesPerOwner: 3 });
    expect(durationMs(pool.leaseTtl)).toBe(300_000);
    const over = await cb.assignToken({ pool: "k", owner: "job" }).catch((e: unknown) => e);
    expect(reasonOf(over)).toBe("OWNER_QUOTA_EXCEEDED");
    const retry = await cb.assignTokens({ pool: "k", owner: "job", count: 3, requestId: "try-1" });
    expect(retry.leases.map((l) => l.token).sort()).toEqual(gangTokens);
    const cordoned = await cb.listTokens({ pool: "k", state: TokenState.CORDONED });
    expect(cordoned.tokens.map((t) => t.token).sort()).toEqual([free[0]!, gangTokens[0]!].sort());
    await cb.assignToken({ pool: "k", owner: "x" });
    expect(reasonOf(await cb.assignToken({ pool: "k", owner: "y" }).catch((e: unknown) => e))).toBe("POOL_EXHAUSTED");
  }, 60_000);
});
