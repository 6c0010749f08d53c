// Redis crashes (SIGKILL) and restarts from its AOF (appendfsync always) under load: calls fail with
// UNAVAILABLE quickly while it is down, replicas recover without a restart, every acknowledged write
// is still there, fencing generations never go back, and no token ever has two holders.

import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { reasonOf, startReplica, replicaClient, type Replica, type TokenClient } from "../harness/replica-process.js";
import { checkHistory, HolderLedger, seen, type SeenEvent } from "./lease-checks.js";
import { sleep } from "../harness/sleep.js";

const POOL = "busy";
const PROBE = "durable";

/** Retries a call whose outcome is unknown (UNAVAILABLE) until Redis gives a definite answer. */
async function definitive<T>(call: () => Promise<T>, onRetry: () => void = () => undefined): Promise<T> {
  const until = Date.now() + 20_000;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (reasonOf(e) !== "UNAVAILABLE" || Date.now() > until) throw e;
      onRetry();
      await sleep(50);
    }
  }
}

describe("redis store × redis restart", () => {
  let redis: RedisServer;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    redis = await startRedisServer({ durable: true });
    replicas.push(...(await Promise.all([0, 1].map(() => startReplica(redis.url)))));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await redis?.stop();
  });

  it("keeps acknowledged writes and recovers without restarting replicas", async () => {
    const clients = replicas.map((r) => replicaClient(r.url));
    const [c0, c1] = clients as [TokenClient, TokenClient];
    await c0.createPool({ name: POOL, leaseTtl: { seconds: 30n }, idleTtl: { seconds: 0n }, initialTokens: 24 });
    await c1.createPool({ name: PROBE, leaseTtl: { seconds: 300n }, idleTtl: { seconds: 0n } });
    const start = (await c0.getPool({ name: POOL })).pool!;

    const events: SeenEvent[] = [];
    const watchAbort = new AbortController();
    const watching = (async () => {
      for await (const msg of c1.watchLeases({ pool: POOL, afterSequence: start.sequence }, { signal: watchAbort.signal })) {
        if (msg.kind.case === "event") events.push(seen(msg.kind.value));
      }
    })().catch((e: unknown) => (watchAbort.signal.aborted ? undefined : Promise.reject(e)));

    const ledger = new HolderLedger();
    const unexpected: string[] = [];
    const cycles = [0, 0];
    let down = false;
    let restartedAt = Infinity;
    const cyclesAfterRestart = [0, 0];
    let stop = false;

    const worker = async (id: number): Promise<void> => {
      const r = id % 2;
      const client = clients[r]!;
      const owner = `w${id}@r${r}`;
      for (let n = 0; !stop; n++) {
        try {
          // A retried request id gets the same lease back if the first attempt did land.
          const { lease } = await definitive(() => client.assignToken({ pool: POOL, owner, requestId: `${owner}#${n}` }));
          ledger.acquired(lease!.token, owner, Number(lease!.generation), timestampMs(lease!.expireTime!));
          await sleep(5 + Math.random() * 20);
          ledger.releasing(lease!.token, owner);
          let retried = false;
          await definitive(
            () => client.releaseToken({ pool: POOL, token: lease!.token, generation: lease!.generation, owner }),
            () => (retried = true),
          ).catch((e: unknown) => {
            // A retry may find its first attempt applied: the fencing check says so.
            if (!retried || !["NOT_HELD", "LEASE_MISMATCH"].includes(reasonOf(e))) throw e;
          });
          cycles[r]!++;
          if (Date.now() > restartedAt) cyclesAfterRestart[r]!++;
        } catch (e) {
          const reason = reasonOf(e);
          if (reason === "POOL_EXHAUSTED") await sleep(10);
          else unexpected.push(`${owner}: ${reason} ${e instanceof Error ? e.message : ""}`);
        }
      }
    };

    // Durability probe: every acknowledged write on a second pool must be there after the restart.
    const ackedTokens: string[] = [];
    const ackedLeases: { token: string; owner: string; generation: bigint }[] = [];
    const probe = async (): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const token = `probe-${n}`;
        try {
          await c1.generateTokens({ pool: PROBE, tokens: [token] });
          ackedTokens.push(token);
          const { lease } = await c0.assignToken({ pool: PROBE, owner: `p${n}` });
          ackedLeases.push({ token: lease!.token, owner: lease!.owner, generation: lease!.generation });
        } catch {
          await sleep(20); // unknown outcome: not acknowledged, nothing to check
        }
      }
    };

    const load = Promise.all([...Array.from({ length: 16 }, (_, i) => worker(i)), probe()]);
    await sleep(2000);
    const beforeCrash = { cycles: cycles[0]! + cycles[1]!, acked: ackedLeases.length };
    down = true;
    await redis.crash();

    // While Redis is down every replica answers UNAVAILABLE at once instead of hanging.
    await sleep(200);
    const outage: { reason: string; ms: number }[] = [];
    for (const c of clients) {
      for (const call of [() => c.getPool({ name: POOL }), () => c.assignToken({ pool: POOL, owner: "probe" })]) {
        const t0 = Date.now();
        const reason = await call().then(() => "OK", reasonOf);
        outage.push({ reason, ms: Date.now() - t0 });
      }
    }
    // The health signal follows the Redis connection (/readyz is driven by Store.notReadyReason()).
    const readyWhileDown = await Promise.all(replicas.map((r) => fetch(`${r.url}/readyz`).then((res) => res.status)));
    await sleep(800);
    await redis.start();
    down = false;
    restartedAt = Date.now();
    const readyAgain = await Promise.all(
      replicas.map(async (r) => {
        for (let i = 0; i < 100; i++) {
          const status = (await fetch(`${r.url}/readyz`)).status;
          if (status === 200) return status;
          await sleep(50);
        }
        return 503;
      }),
    );
    await sleep(3000);
    stop = true;
    await load;

    const end = (await c0.getPool({ name: POOL })).pool!;
    const finalSeq = Number(end.sequence);
    for (let i = 0; i < 100 && (events.at(-1)?.sequence ?? 0) < finalSeq; i++) await sleep(50);
    watchAbort.abort();
    await watching;

    expect(down).toBe(false);
    for (const o of outage) {
      expect(o.reason).toBe("UNAVAILABLE");
      expect(o.ms).toBeLessThan(500);
    }
    expect(readyWhileDown).toEqual([503, 503]);
    expect(readyAgain).toEqual([200, 200]);
    expect(unexpected).toEqual([]);
    expect(ledger.problems).toEqual([]);
    expect(beforeCrash.cycles).toBeGreaterThan(0);
    expect(beforeCrash.acked).toBeGreaterThan(0);
    expect(cyclesAfterRestart.every((n) => n > 0)).toBe(true); // both replicas serve again, unrestarted

    // Every worker released what it held (retrying through the outage): the pool is whole again.
    expect(end).toMatchObject({ total: 24, available: 24 });
    expect(end.held).toBe(0);

    // The watcher on replica 1 kept its stream across the restart: complete and consistent.
    expect(events.at(-1)?.sequence).toBe(finalSeq);
    // All 24 tokens were free when the watch started.
    const freeAtStart = new Set(events.filter((e) => e.token).map((e) => e.token));
    expect(checkHistory(events, Number(start.sequence), freeAtStart)).toEqual([]);

    // Acknowledged writes survived; generations continue after the highest acknowledged one.
    for (const t of ackedTokens) expect((await c1.getToken({ pool: PROBE, token: t })).token).toBe(t);
    for (const l of ackedLeases) {
      const got = await c0.getToken({ pool: PROBE, token: l.token });
      expect(got.lease).toMatchObject({ owner: l.owner, generation: l.generation });
    }
    const maxAcked = ledger.granted.reduce((m, g) => Math.max(m, g.generation), 0);
    expect(Number(end.generation)).toBeGreaterThanOrEqual(maxAcked);
    console.log(
      `fault: ${beforeCrash.cycles} cycles before the crash, ${cyclesAfterRestart.join("/")} per replica after the restart; ` +
        `${ackedTokens.length} acknowledged probe tokens and ${ackedLeases.length} leases survived; outage answers ${outage.map((o) => `${o.reason} in ${o.ms} ms`).join(", ")}`,
    );
  }, 90_000);
});
