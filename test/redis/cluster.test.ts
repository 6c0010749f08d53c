// The redis store on a real 3-master Redis Cluster: every key of a pool in one slot, pools spread over
// the masters, events, expiry and all-pools watches across masters and replicas, and a pool's slot
// resharded to another master while it is under load (no double holder, only documented errors).

import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseEventType } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { INDEX_KEYS, poolKeys } from "../../src/store/redis/keys.js";
import { reasonOf } from "../harness/replica-process.js";
import { startRedisCluster, type RedisCluster } from "../harness/redis-cluster.js";
import { startTestServer, TEST_PASSWORD, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";
import { duration, tokenClient, type TokenClient } from "../harness/token-client.js";
import { checkHistory, HolderLedger, seen, type SeenEvent } from "./lease-checks.js";
import { ConnectError } from "@connectrpc/connect";

describe("redis store on a 3-master Redis Cluster, 2 replicas", () => {
  let cluster: RedisCluster;
  const servers: TestServer[] = [];
  const clients: TokenClient[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    for (let i = 0; i < 2; i++) {
      servers.push(await startTestServer("redis-cluster", ["--total-tokens", "0"], { url: cluster.seedUrl }));
    }
    clients.push(...servers.map((s) => tokenClient(s.url, TEST_PASSWORD, "connect")));
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.close();
    await cluster?.stop();
  });

  const slotOf = async (key: string): Promise<number> => Number(await cluster.admin.cluster("KEYSLOT", key));
  const ownerOfPool = async (pool: string): Promise<number> => cluster.ownerOf(await slotOf(poolKeys(pool)[0]!));

  /** `count` pool names whose slots are on `count` different masters. */
  async function namesOnDistinctMasters(prefix: string, count: number): Promise<string[]> {
    const byMaster = new Map<number, string>();
    for (let i = 0; byMaster.size < count; i++) {
      const name = `${prefix}-${i}`;
      const port = await ownerOfPool(name);
      if (!byMaster.has(port)) byMaster.set(port, name);
    }
    return [...byMaster.values()];
  }

  it("keeps every key of a pool in one slot, spreads pools over all masters, and lists them from any replica", async () => {
    for (const name of ["a", "gpus", "Pool.with-dots_9", "x".repeat(64)]) {
      const slots = new Set(await Promise.all(poolKeys(name).map(slotOf)));
      expect(slots.size, `keys of pool ${name}`).toBe(1);
    }
    expect(new Set(await Promise.all(INDEX_KEYS.map(slotOf))).size).toBe(1);

    const [c0, c1] = clients as [TokenClient, TokenClient];
    const names = Array.from({ length: 24 }, (_, i) => `spread-${i}`);
    for (const name of names) await c0.createPool({ name, initialTokens: 2 });
    const owners = await Promise.all(names.map(ownerOfPool));
    expect(new Set(owners).size).toBe(3);
    // The keys really are on the masters the slots say: each master holds the pools of its slots.
    for (const port of await cluster.masterPorts()) {
      const admin = cluster.nodes.find((n) => n.port === port)!.admin();
      const mine = names.filter((_, i) => owners[i] === port);
      const stored = await Promise.all(mine.map((name) => admin.exists(...poolKeys(name).slice(0, 2))));
      expect(stored, `pools stored on master ${port}`).toEqual(mine.map(() => 2));
    }
    const listed = (await c1.listPools({ pageSize: 1000 })).pools.map((p) => p.name).filter((n) => n.startsWith("spread-"));
    expect(listed.sort()).toEqual([...names].sort());
    for (const name of names) await c1.deletePool({ name });
    expect((await c0.listPools({ pageSize: 1000 })).pools.filter((p) => p.name.startsWith("spread-"))).toEqual([]);
  }, 60_000);

  it("streams events and expiries of pools on every master to an all-pools watcher on another replica", async () => {
    const [c0, c1] = clients as [TokenClient, TokenClient];
    const names = await namesOnDistinctMasters("watched", 3);
    const got: SeenEvent[] = [];
    const pools: string[] = [];
    const abort = new AbortController();
    const watching = (async () => {
      const types = [LeaseEventType.ASSIGNED, LeaseEventType.LEASE_EXPIRED];
      for await (const msg of c0.watchLeases({ allPools: true, types }, { signal: abort.signal })) {
        if (msg.kind.case === "event") {
          got.push(seen(msg.kind.value));
          pools.push(msg.kind.value.pool);
        }
      }
    })().catch((e: unknown) => (abort.signal.aborted ? undefined : Promise.reject(e)));
    await sleep(300); // the watch lists pools when it starts; these are created after, found by notice
    for (const name of names) {
      await c1.createPool({ name, initialTokens: 1, leaseTtl: duration(400) });
      await c1.assignToken({ pool: name, owner: `o-${name}` });
    }
    // Leases nobody renews expire through the reapers, whose due index lives on one master for all pools.
    for (let i = 0; i < 100; i++) {
      if (names.every((n) => pools.some((p, j) => p === n && got[j]!.type === LeaseEventType.LEASE_EXPIRED))) break;
      await sleep(50);
    }
    abort.abort();
    await watching;
    for (const name of names) {
      const types = got.filter((_, j) => pools[j] === name).map((e) => LeaseEventType[e.type]);
      expect(types, `events of ${name} (master ${await ownerOfPool(name)})`).toEqual(["ASSIGNED", "LEASE_EXPIRED"]);
    }
  }, 30_000);

  it("moves a loaded pool's slot to another master and back: calls succeed or fail UNAVAILABLE (not applied), never two holders", async () => {
    const [c0, c1] = clients as [TokenClient, TokenClient];
    const POOL = "resharded";
    const TOKENS = 8;
    await c0.createPool({ name: POOL, leaseTtl: duration(5000), idleTtl: duration(0) });
    const generated = await c0.generateTokens({ pool: POOL, count: TOKENS });
    const slot = await slotOf(poolKeys(POOL)[0]!);
    const home = await cluster.ownerOf(slot);
    const others = (await cluster.masterPorts()).filter((p) => p !== home);
    const startSeq = Number((await c1.getPool({ name: POOL })).pool!.sequence);

    const events: SeenEvent[] = [];
    const watchAbort = new AbortController();
    const watching = (async () => {
      for await (const msg of c1.watchLeases({ pool: POOL, afterSequence: BigInt(startSeq) }, { signal: watchAbort.signal })) {
        if (msg.kind.case === "event") events.push(seen(msg.kind.value));
      }
    })().catch((e: unknown) => (watchAbort.signal.aborted ? undefined : Promise.reject(e)));

    const ledger = new HolderLedger();
    const unexpected: string[] = [];
    const unavailable: string[] = [];
    let cycles = 0;
    let cyclesAfterMoves = 0;
    let moved = false;
    let stop = false;
    const worker = async (id: number): Promise<void> => {
      const client = clients[id % 2]!;
      const owner = `w${id}`;
      while (!stop) {
        let held: { token: string; generation: bigint } | undefined;
        try {
          const { lease } = await client.assignToken({ pool: POOL, owner, waitTimeout: duration(1000) });
          held = { token: lease!.token, generation: lease!.generation };
          ledger.acquired(lease!.token, owner, Number(lease!.generation), timestampMs(lease!.expireTime!));
          await sleep(Math.random() * 10);
          ledger.releasing(held.token, owner);
          await client.releaseToken({ pool: POOL, token: held.token, generation: held.generation, owner });
          held = undefined;
          cycles++;
          if (moved) cyclesAfterMoves++;
        } catch (e) {
          const reason = reasonOf(e);
          if (reason === "UNAVAILABLE") unavailable.push(e instanceof ConnectError ? e.rawMessage : String(e));
          else if (reason !== "POOL_EXHAUSTED") unexpected.push(`${owner}: ${reason}`);
          // A release that failed UNAVAILABLE was not applied: give the token back, fenced.
          while (held && !stop) {
            try {
              await client.releaseToken({ pool: POOL, token: held.token, generation: held.generation, owner });
              held = undefined;
            } catch (again) {
              if (reasonOf(again) !== "UNAVAILABLE") held = undefined;
              else await sleep(50);
            }
          }
        }
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, (_, i) => worker(i)));
    await sleep(1000);
    // Two hops, with pauses between key batches so live calls meet ASK and TRYAGAIN, then home again.
    const keysMoved = [await cluster.moveSlot(slot, others[0]!, 60)];
    expect(await cluster.ownerOf(slot)).toBe(others[0]);
    await sleep(500);
    keysMoved.push(await cluster.moveSlot(slot, others[1]!, 60));
    await sleep(500);
    keysMoved.push(await cluster.moveSlot(slot, home, 0));
    moved = true;
    await sleep(1000);
    stop = true;
    await load;

    const finalSeq = Number((await c0.getPool({ name: POOL })).pool!.sequence);
    for (let i = 0; i < 100 && (events.at(-1)?.sequence ?? 0) < finalSeq; i++) await sleep(50);
    watchAbort.abort();
    await watching;

    console.log(
      `cluster reshard: ${cycles} assign/release cycles (${cyclesAfterMoves} after the moves), keys moved per hop ${keysMoved.join("/")}, ` +
        `${unavailable.length} UNAVAILABLE${unavailable[0] ? ` (e.g. "${unavailable[0]}")` : ""}`,
    );
    expect(keysMoved.every((n) => n > 0)).toBe(true);
    expect(await cluster.ownerOf(slot)).toBe(home);
    expect(unexpected).toEqual([]);
    // Every failure was a refusal (the script ran nowhere), never an unknown outcome.
    expect(unavailable.filter((m) => !/not applied/.test(m))).toEqual([]);
    expect(ledger.problems).toEqual([]);
    expect(cyclesAfterMoves).toBeGreaterThan(0);
    expect(events.at(-1)?.sequence).toBe(finalSeq);
    expect(checkHistory(events, startSeq, generated.tokens)).toEqual([]);
    expect((await c1.getPool({ name: POOL })).pool).toMatchObject({ total: TOKENS, available: TOKENS });
  }, 60_000);
});

describe("redis store on a Redis Cluster with a replica per master, --redis-min-replicas-ack", () => {
  let cluster: RedisCluster;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.close();
    await cluster?.stop();
  });

  const serve = async (ack: number): Promise<TokenClient> => {
    const s = await startTestServer("redis-cluster", ["--total-tokens", "0", "--redis-min-replicas-ack", String(ack), "--redis-ack-timeout", "0.3"], {
      url: cluster.seedUrl,
    });
    servers.push(s);
    return tokenClient(s.url, TEST_PASSWORD, "connect");
  };

  it("follows a pool's slot to its new master: calls during the move succeed or are refused (not applied), every call after it succeeds", async () => {
    const c = await serve(1);
    const POOL = "acked-moving";
    await c.createPool({ name: POOL, initialTokens: 4, leaseTtl: duration(30_000) });
    const slot = Number(await cluster.admin.cluster("KEYSLOT", poolKeys(POOL)[0]!));
    const home = await cluster.ownerOf(slot);
    const to = (await cluster.masterPorts()).find((p) => p !== home)!;
    const cycle = async (owner: string): Promise<string> => {
      try {
        const { lease } = await c.assignToken({ pool: POOL, owner });
        await c.releaseToken({ pool: POOL, token: lease!.token, generation: lease!.generation, owner });
        return "ok";
      } catch (e) {
        return e instanceof ConnectError ? e.rawMessage : String(e);
      }
    };
    let moving = true;
    const during: string[] = [];
    const load = (async () => {
      for (let i = 0; moving; i++) during.push(await cycle(`d${i}`));
    })();
    // 60 ms between key batches: the calls meet ASK (moved keys) and TRYAGAIN (keys split).
    await cluster.moveSlot(slot, to, 60);
    moving = false;
    await load;
    expect(await cluster.ownerOf(slot)).toBe(to);
    // The replica's slot map still names the old master: the first call is redirected and must follow.
    // (ioredis did not follow it for a script + WAIT pipeline: every call failed until its 5 s slot refresh.)
    const after: string[] = [];
    for (let i = 0; i < 20; i++) after.push(await cycle(`a${i}`));
    expect(after).toEqual(Array.from({ length: 20 }, () => "ok"));
    expect(during.filter((m) => m !== "ok" && !/not applied/.test(m))).toEqual([]);
    expect(during.length).toBeGreaterThan(0);
  }, 60_000);

  it("waits for each pool's own master's replica (WAIT on the node that ran the script), and says so when there are too few", async () => {
    const acked = await serve(1);
    const greedy = await serve(2);
    const owners = new Set<number>();
    for (let i = 0; owners.size < 3; i++) {
      const name = `acked-${i}`;
      owners.add(await cluster.ownerOf(Number(await cluster.admin.cluster("KEYSLOT", poolKeys(name)[0]!))));
      await acked.createPool({ name, initialTokens: 3 });
      const { lease } = await acked.assignToken({ pool: name, owner: "o" });
      await acked.releaseToken({ pool: name, token: lease!.token, generation: lease!.generation });
      const refused = await greedy.assignToken({ pool: name, owner: "g" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(reasonOf(refused)).toBe("UNAVAILABLE");
      expect(refused instanceof ConnectError ? refused.rawMessage : "").toMatch(/only 1 of the 2 required replica\(s\)/);
    }

    // Crash the replica of one master: that master's pools go UNAVAILABLE, the others' do not. (A WAIT sent
    // to a node other than the one that ran the script would count that node's replicas: this tells them apart.)
    const names = ["acked-0", "acked-1", "acked-2", "acked-3", "acked-4", "acked-5"].slice(0, owners.size * 2);
    const ownerOf = async (name: string): Promise<number> =>
      cluster.ownerOf(Number(await cluster.admin.cluster("KEYSLOT", poolKeys(name)[0]!)));
    const victimMaster = await ownerOf("acked-0");
    const info = await cluster.nodes.find((n) => n.port === victimMaster)!.admin().info("replication");
    const replicaPort = Number(/^slave0:.*port=(\d+)/m.exec(info)?.[1]);
    await cluster.nodes.find((n) => n.port === replicaPort)!.crash();
    for (const name of names) {
      const exists = await acked.getPool({ name }).then(
        () => true,
        () => false,
      );
      if (!exists) continue;
      const outcome = await acked.assignToken({ pool: name, owner: "after-crash" }).then(
        () => "ok",
        (e: unknown) => (e instanceof ConnectError ? e.rawMessage : String(e)),
      );
      if ((await ownerOf(name)) === victimMaster) expect(outcome, name).toMatch(/only 0 of the 1 required/);
      else expect(outcome, name).toBe("ok");
    }
  }, 60_000);
});
