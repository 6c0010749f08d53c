// Three tokenpool processes on one Redis, 64 clients spread across them: no token ever has two
// holders, a watcher on one replica sees every replica's events in sequence order, and when a replica
// is SIGKILLed the others keep serving while its clients' leases expire on time. A watcher of all
// pools on one replica sees another replica's events, in pools created after it started too.

import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseEventType } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { reasonOf, startReplica, replicaClient, type Replica, type TokenClient } from "../harness/replica-process.js";
import { checkHistory, HolderLedger, seen, type SeenEvent } from "./lease-checks.js";
import { sleep } from "../harness/sleep.js";

const POOL = "shared";
const TOKENS = 16;
const WORKERS = 64;
const LEASE_TTL_S = 2;
const LOAD_MS = 6000;
const KILL_AT_MS = 3000;
/** Expiry lateness allowed after a replica dies (its reaper claims lapse, the others' sleep is bounded). */
const EXPIRY_SLACK_MS = 3000;


describe("redis store × 3 replicas", () => {
  let redis: RedisServer;
  const replicas: Replica[] = [];
  const clients: TokenClient[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    replicas.push(...(await Promise.all([0, 1, 2].map(() => startReplica(redis.url)))));
    clients.push(...replicas.map((r) => replicaClient(r.url)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => (r.child.exitCode === null && r.child.signalCode === null ? r.stop() : undefined)));
    await redis?.stop();
  });

  it("shares pools, fences holders, streams every replica's events, and survives a SIGKILL", async () => {
    const [c0, c1, c2] = clients as [TokenClient, TokenClient, TokenClient];
    await c0.createPool({ name: POOL, leaseTtl: { seconds: BigInt(LEASE_TTL_S) }, idleTtl: { seconds: 0n } });
    const generated = await c1.generateTokens({ pool: POOL, count: TOKENS }); // another replica sees the pool at once
    expect((await c2.getPool({ name: POOL })).pool).toMatchObject({ total: TOKENS, available: TOKENS });
    const startSeq = Number((await c2.getPool({ name: POOL })).pool!.sequence);

    // The watcher, on replica 0, resumes from an explicit sequence so it cannot miss an early event.
    const events: SeenEvent[] = [];
    const watchAbort = new AbortController();
    const watching = (async () => {
      for await (const msg of c0.watchLeases({ pool: POOL, afterSequence: BigInt(startSeq) }, { signal: watchAbort.signal })) {
        if (msg.kind.case === "event") events.push(seen(msg.kind.value));
      }
    })().catch((e: unknown) => (watchAbort.signal.aborted ? undefined : Promise.reject(e)));

    const ledger = new HolderLedger();
    const killedOwners = new Set<string>();
    const cycles = [0, 0, 0];
    const cyclesAfterKill = [0, 0, 0];
    const unexpected: string[] = [];
    let killed = false;
    const until = Date.now() + LOAD_MS;

    const worker = async (id: number): Promise<void> => {
      const r = id % 3;
      const client = clients[r]!;
      const owner = `w${id}@r${r}`;
      if (r === 2) killedOwners.add(owner);
      while (Date.now() < until) {
        try {
          const { lease } = await client.assignToken({ pool: POOL, owner, waitTimeout: { seconds: 1n } });
          ledger.acquired(lease!.token, owner, Number(lease!.generation), timestampMs(lease!.expireTime!));
          await sleep(5 + Math.random() * 30);
          const kept = await client.keepAlive({ pool: POOL, tokens: [lease!.token] });
          ledger.renewed(lease!.token, owner, timestampMs(kept.results[0]!.lease!.expireTime!));
          await sleep(Math.random() * 20);
          ledger.releasing(lease!.token, owner);
          await client.releaseToken({ pool: POOL, token: lease!.token, generation: lease!.generation, owner });
          cycles[r]!++;
          if (killed) cyclesAfterKill[r]!++;
        } catch (e) {
          if (r === 2 && killed) return; // its replica is gone
          const reason = reasonOf(e);
          if (reason !== "POOL_EXHAUSTED") unexpected.push(`${owner}: ${reason}`);
        }
      }
    };

    const load = Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
    await sleep(KILL_AT_MS);
    killed = true;
    await replicas[2]!.kill();
    const orphans = ledger.orphan(killedOwners);
    await load;

    // Replica 2's clients' leases expire on time although their replica is gone.
    const lastDeadline = Math.max(Date.now(), ...orphans.map((o) => o.expireTime));
    await sleep(Math.max(0, lastDeadline - Date.now()) + EXPIRY_SLACK_MS);
    const finalSeq = Number((await c1.getPool({ name: POOL })).pool!.sequence);
    for (let i = 0; i < 100 && (events.at(-1)?.sequence ?? 0) < finalSeq; i++) await sleep(50);
    watchAbort.abort();
    await watching;

    expect(unexpected).toEqual([]);
    expect(ledger.problems).toEqual([]);
    expect(cycles.every((n) => n > 0)).toBe(true);
    expect(cyclesAfterKill[0]! + cyclesAfterKill[1]!).toBeGreaterThan(0);

    // Every event of every replica reached the watcher on replica 0, contiguously and in order.
    expect(events.at(-1)?.sequence).toBe(finalSeq);
    expect(checkHistory(events, startSeq, generated.tokens)).toEqual([]);
    const assigned = new Set(events.filter((e) => e.type === LeaseEventType.ASSIGNED).map((e) => `${e.token}/${e.generation}/${e.owner}`));
    const missing = ledger.granted.filter((g) => !assigned.has(`${g.token}/${g.generation}/${g.owner}`));
    expect(missing).toEqual([]);

    for (const o of orphans) {
      const expiry = events.find((e) => e.type === LeaseEventType.LEASE_EXPIRED && e.token === o.token && e.generation === o.generation);
      expect(expiry, `lease ${o.token}/${o.generation} of ${o.owner} expired`).toBeDefined();
      // A keep-alive in flight at the kill may have moved the deadline: lateness counts from the real one.
      expect(expiry!.time).toBeGreaterThanOrEqual(o.expireTime);
      expect(expiry!.receivedAt - expiry!.time).toBeLessThan(EXPIRY_SLACK_MS);
    }
    console.log(
      `replicas: cycles per replica ${cycles.join("/")} (after kill ${cyclesAfterKill.join("/")}), ${events.length} events, ` +
        `${orphans.length} orphaned leases, worst expiry lateness ${Math.max(0, ...orphans.map((o) => (events.find((e) => e.type === LeaseEventType.LEASE_EXPIRED && e.token === o.token && e.generation === o.generation)?.receivedAt ?? 0) - o.expireTime))} ms`,
    );
  }, 90_000);

  it("streams every pool to an all-pools watcher on another replica, pools created after it started too", async () => {
    const [c0, c1] = clients as [TokenClient, TokenClient];
    const existing = "all-before";
    const later = "all-after";
    await c1.createPool({ name: existing, initialTokens: 1 });
    const got: { pool: string; owner: string; at: number }[] = [];
    const abort = new AbortController();
    const watching = (async () => {
      for await (const msg of c0.watchLeases({ allPools: true, types: [LeaseEventType.ASSIGNED] }, { signal: abort.signal })) {
        if (msg.kind.case === "event") got.push({ pool: msg.kind.value.pool, owner: msg.kind.value.owner, at: Date.now() });
      }
    })().catch((e: unknown) => (abort.signal.aborted ? undefined : Promise.reject(e)));
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      for (let i = 0; !ok(); i++) {
        if (i >= 100) throw new Error(`all-pools watcher never saw ${what}`);
        await sleep(50);
      }
    };

    // Replica 1's writes in a pool that existed reach replica 0's watcher (probing until the watch is live).
    for (let i = 0; !got.some((e) => e.pool === existing); i++) {
      if (i >= 50) throw new Error("all-pools watcher never saw the existing pool");
      const { lease } = await c1.assignToken({ pool: existing, owner: "probe" });
      await c1.releaseToken({ pool: existing, token: lease!.token });
      await sleep(100);
    }

    // A pool replica 1 creates now: found through its creation notice, read from its first event.
    await c1.createPool({ name: later, initialTokens: 1 });
    const assigning = Date.now();
    await c1.assignToken({ pool: later, owner: "late" });
    await until("the new pool's lease", () => got.some((e) => e.pool === later && e.owner === "late"));
    const latency = got.find((e) => e.pool === later)!.at - assigning;
    abort.abort();
    await watching;
    console.log(`all-pools watch: ASSIGNED in a pool created on another replica after the watch started arrived ${latency} ms after the assign was sent`);
    expect(latency).toBeLessThan(5000);
  }, 30_000);
});
