// The redis store behind Redis Sentinel (one primary, one replica, three sentinels): the primary is found
// and followed through a kill -9 failover under load, and with --redis-min-replicas-ack 1 nothing a
// client was told survives the failover only by luck: no double holder, no lost acknowledgement.

import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseEventType } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { reasonOf } from "../harness/replica-process.js";
import { startSentinelSet, type SentinelSet } from "../harness/redis-sentinel.js";
import { startTestServer, TEST_PASSWORD, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";
import { duration, tokenClient, type TokenClient } from "../harness/token-client.js";
import { checkHistory, HolderLedger, seen, type SeenEvent } from "./lease-checks.js";

const message = (e: unknown): string => (e instanceof ConnectError ? e.rawMessage : String(e));

describe("redis store through Sentinel, primary + 1 replica", () => {
  let set: SentinelSet;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    set = await startSentinelSet({ replicas: 1, sentinels: 3 });
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.close();
    await set?.stop();
  });

  // 1 s by default: on a loaded machine a replica's acknowledgement can take longer than 300 ms, and
  // only the test of the refusal message needs a short one.
  async function serve(ack: number, ackTimeoutS = 1): Promise<TokenClient> {
    const s = await startTestServer(
      "redis",
      [
        "--total-tokens", "0",
        "--redis-sentinels", set.sentinelList,
        "--redis-master-name", set.masterName,
        "--redis-min-replicas-ack", String(ack),
        "--redis-ack-timeout", String(ackTimeoutS),
      ],
      // Not used to connect (Sentinel names the primary); only its credentials would be.
      { url: "redis://127.0.0.1:1" },
    );
    servers.push(s);
    return tokenClient(s.url, TEST_PASSWORD, "connect");
  }

  it("answers only what the replica confirmed: UNAVAILABLE with the reason while it is down, and again OK once it is back", async () => {
    const c = await serve(1);
    const greedy = await serve(2, 0.3); // asks for more replicas than there are
    await c.createPool({ name: "acked", initialTokens: 2, leaseTtl: duration(30_000) });
    const { lease } = await c.assignToken({ pool: "acked", owner: "a", requestId: "r1" });
    expect(lease!.generation).toBe(1n);

    const short = await greedy.assignToken({ pool: "acked", owner: "b", requestId: "r2" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(reasonOf(short)).toBe("UNAVAILABLE");
    expect(message(short)).toMatch(/only 1 of the 2 required replica\(s\) confirmed it within 300 ms/);
    // The change was made on the primary: the same request id finds the lease it made.
    const token = (await c.getPool({ name: "acked" })).pool!;
    expect(token).toMatchObject({ available: 0 });
    expect((await c.assignToken({ pool: "acked", owner: "b", requestId: "r2" })).lease!.generation).toBe(2n);

    const replica = set.nodes[1]!;
    await replica.crash();
    const started = Date.now();
    const down = await c.releaseToken({ pool: "acked", token: lease!.token, generation: 1n }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    expect(reasonOf(down)).toBe("UNAVAILABLE");
    expect(message(down)).toMatch(/only 0 of the 1 required/);
    expect(took).toBeLessThan(3000);
    await replica.start();
    await set.waitForReplicas(await set.masterPort(), 1, 15_000);
    // Repeating the fenced release is safe: it already happened on the primary.
    const again = await c.releaseToken({ pool: "acked", token: lease!.token, generation: 1n }).then(
      () => "ok",
      (e: unknown) => reasonOf(e),
    );
    expect(again).toBe("NOT_HELD");
    expect((await c.assignToken({ pool: "acked", owner: "c" })).lease!.generation).toBe(3n);
  }, 60_000);

  it("shares one WAIT among the calls answered meanwhile (group commit), each still confirmed", async () => {
    const c = await serve(1);
    await c.createPool({ name: "grouped", initialTokens: 64 });
    const primaryPort = await set.masterPort();
    const stats = set.nodes.find((n) => n.port === primaryPort)!.admin();
    await stats.config("RESETSTAT");
    const leases = await Promise.all(Array.from({ length: 64 }, (_, i) => c.assignToken({ pool: "grouped", owner: `g${i}` })));
    expect(new Set(leases.map((l) => l.lease!.token)).size).toBe(64);
    const info = await stats.info("commandstats");
    const calls = (cmd: string): number => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    console.log(`group WAIT: ${calls("evalsha")} scripts, ${calls("wait")} WAITs`);
    expect(calls("evalsha")).toBeGreaterThanOrEqual(64);
    expect(calls("wait")).toBeGreaterThan(0);
    expect(calls("wait")).toBeLessThan(calls("evalsha"));
  }, 30_000);

  it("delivers to watchers only events the replica confirmed: one the primary made alone waits until the replica has it", async () => {
    const c = await serve(1);
    const POOL = "confirmed";
    await c.createPool({ name: POOL, initialTokens: 1, leaseTtl: duration(30_000) });
    const startSeq = (await c.getPool({ name: POOL })).pool!.sequence;
    const types: string[] = [];
    const watchAbort = new AbortController();
    const watching = (async () => {
      try {
        for await (const msg of c.watchLeases({ pool: POOL, afterSequence: startSeq }, { signal: watchAbort.signal })) {
          if (msg.kind.case === "event") types.push(LeaseEventType[msg.kind.value.type]);
        }
      } catch {
        // aborted at the end
      }
    })();
    const { lease } = await c.assignToken({ pool: POOL, owner: "a" });
    for (let i = 0; i < 100 && types.length < 1; i++) await sleep(20);
    expect(types).toEqual(["ASSIGNED"]);

    const primaryPortNow = await set.masterPort();
    const replica = set.nodes.find((n) => n.port !== primaryPortNow)!;
    await replica.crash();
    const release = await c.releaseToken({ pool: POOL, token: lease!.token, generation: lease!.generation }).then(
      () => "ok",
      (e: unknown) => message(e),
    );
    expect(release).toMatch(/only 0 of the 1 required/); // made on the primary alone
    await sleep(1000);
    // A failover now would undo the release: a watcher told of it would see its sequence reused.
    expect(types).toEqual(["ASSIGNED"]);
    await replica.start();
    await set.waitForReplicas(primaryPortNow, 1, 15_000);
    for (let i = 0; i < 250 && types.length < 2; i++) await sleep(20);
    expect(types).toEqual(["ASSIGNED", "RELEASED"]);
    watchAbort.abort();
    await watching;
  }, 60_000);

  it("follows a kill -9 failover under load: with 1 replica ack, no double holder, no lost acknowledgement, no sequence reused", async () => {
    const clients = [await serve(1, 0.5), await serve(1, 0.5)];
    const [c0, c1] = clients as [TokenClient, TokenClient];
    const POOL = "failover";
    const TOKENS = 8;
    await c0.createPool({ name: POOL, leaseTtl: duration(20_000), idleTtl: duration(0) });
    const generated = await c0.generateTokens({ pool: POOL, count: TOKENS });
    const startSeq = Number((await c1.getPool({ name: POOL })).pool!.sequence);

    // The watcher resumes by sequence whenever its stream breaks, as a client would.
    const events: SeenEvent[] = [];
    const watchAbort = new AbortController();
    const watching = (async () => {
      while (!watchAbort.signal.aborted) {
        try {
          const after = BigInt(events.at(-1)?.sequence ?? startSeq);
          for await (const msg of c1.watchLeases({ pool: POOL, afterSequence: after }, { signal: watchAbort.signal })) {
            if (msg.kind.case === "event") events.push(seen(msg.kind.value));
          }
        } catch {
          if (!watchAbort.signal.aborted) await sleep(100);
        }
      }
    })();

    const ledger = new HolderLedger();
    const releasedOk = new Set<string>();
    const unexpected: string[] = [];
    const unavailable: string[] = [];
    let cycles = 0;
    let cyclesAfterFailover = 0;
    let failedOver = false;
    let stop = false;
    const CALL_DEADLINE_MS = 8000;
    const call = async <T,>(what: string, f: (signal: AbortSignal) => Promise<T>): Promise<T | string> => {
      try {
        return await f(AbortSignal.timeout(CALL_DEADLINE_MS));
      } catch (e) {
        const reason = reasonOf(e);
        if (reason === "UNAVAILABLE") unavailable.push(message(e));
        else if (!["POOL_EXHAUSTED", "NOT_HELD", "LEASE_MISMATCH"].includes(reason)) unexpected.push(`${what}: ${reason} ${message(e)}`);
        return reason;
      }
    };
    const worker = async (id: number): Promise<void> => {
      const client = clients[id % 2]!;
      const owner = `w${id}`;
      for (let n = 0; !stop; n++) {
        // One request id per assign: a retry after UNAVAILABLE gets the lease the first try made, if it stands.
        const requestId = `${owner}-${n}`;
        let got: { token: string; generation: bigint } | undefined;
        for (;;) {
          const r = await call("assign", (signal) => client.assignToken({ pool: POOL, owner, requestId, waitTimeout: duration(1000) }, { signal }));
          if (typeof r !== "string") {
            got = { token: r.lease!.token, generation: r.lease!.generation };
            ledger.acquired(got.token, owner, Number(got.generation), timestampMs(r.lease!.expireTime!));
            break;
          }
          if (r !== "UNAVAILABLE" || stop) break;
          await sleep(100);
        }
        if (!got) continue;
        await sleep(Math.random() * 10);
        ledger.releasing(got.token, owner);
        for (;;) {
          const held = got;
          const r = await call("release", (signal) => client.releaseToken({ pool: POOL, token: held.token, generation: held.generation, owner }, { signal }));
          if (typeof r !== "string") releasedOk.add(`${got.token}/${got.generation}`);
          if (r !== "UNAVAILABLE") break;
          if (stop) return;
          await sleep(100);
        }
        cycles++;
        if (failedOver) cyclesAfterFailover++;
      }
    };
    const load = Promise.all(Array.from({ length: 12 }, (_, i) => worker(i)));
    await sleep(2000);
    const oldPort = await set.masterPort();
    const oldPrimary = set.nodes.find((n) => n.port === oldPort)!;
    const killedAt = Date.now();
    await oldPrimary.crash();
    const newPort = await set.waitForFailover(oldPort, 30_000);
    const failoverMs = Date.now() - killedAt;
    // With one replica left as the new primary, every write waits for a replica that is not there
    // (UNAVAILABLE) until the old primary comes back and Sentinel makes it a replica.
    await oldPrimary.start();
    await set.waitForReplicas(newPort, 1, 20_000);
    const rejoinedMs = Date.now() - killedAt;
    failedOver = true;
    await sleep(3000);
    stop = true;
    await load;

    const finalSeq = Number((await c0.getPool({ name: POOL })).pool!.sequence);
    for (let i = 0; i < 100 && (events.at(-1)?.sequence ?? 0) < finalSeq; i++) await sleep(50);
    watchAbort.abort();
    await watching;

    const acked = ledger.granted.map((g) => g.generation);
    const reissued = acked.filter((g, i) => acked.indexOf(g) !== i);
    const lostReleases: string[] = [];
    for (const token of generated.tokens) {
      const lease = (await c0.getToken({ pool: POOL, token })).lease;
      if (lease && releasedOk.has(`${token}/${lease.generation}`)) lostReleases.push(`${token}/${lease.generation}`);
    }
    console.log(
      `sentinel failover: new primary after ${failoverMs} ms, writable again (replica back) after ${rejoinedMs} ms; ` +
        `${cycles} cycles (${cyclesAfterFailover} after), ${ledger.granted.length} acknowledged leases, ${unavailable.length} UNAVAILABLE ` +
        `(${unavailable.filter((m) => /confirmed it/.test(m)).length} for missing replica acks)`,
    );
    expect(unexpected).toEqual([]);
    expect(ledger.problems).toEqual([]);
    expect(reissued, "generations acknowledged twice (an acknowledged assign was lost)").toEqual([]);
    expect(lostReleases, "tokens held again after an acknowledged release").toEqual([]);
    expect(cyclesAfterFailover).toBeGreaterThan(0);
    expect(events.at(-1)?.sequence).toBe(finalSeq);
    expect(checkHistory(events, startSeq, generated.tokens)).toEqual([]);
    const acknowledged = new Set(events.map((e) => `${e.token}/${e.generation}/${e.owner}`));
    expect(ledger.granted.filter((g) => !acknowledged.has(`${g.token}/${g.generation}/${g.owner}`))).toEqual([]);
  }, 120_000);
});
