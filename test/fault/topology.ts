// The Redis side of a fault run: one durable redis-server, a Sentinel set (primary + replica + 3
// sentinels) or a 3-master Cluster with a replica each; the flags tokenpool replicas need to use it, and
// the Redis faults each topology can suffer (kill -9, SIGSTOP, failover, moving the pool's slot).

import { poolKeys } from "../../src/store/redis/keys.js";
import { startRedisCluster, type RedisCluster } from "../harness/redis-cluster.js";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { startSentinelSet, type SentinelSet } from "../harness/redis-sentinel.js";
import { sleep } from "../harness/sleep.js";
import type { FaultRecord } from "./history.js";

export type TopologyKind = "single" | "sentinel" | "cluster";

/** Faults a topology can inject; "replica-kill" (a tokenpool process) is the workload's own. */
export type RedisFault = "redis-stop" | "redis-kill" | "master-kill" | "master-stop" | "slot-move";
export type Fault = "replica-kill" | RedisFault;

/** The faults each topology supports, in the order a run cycles through them. */
export const FAULTS: Record<TopologyKind, readonly Fault[]> = {
  single: ["replica-kill", "redis-stop", "replica-kill", "redis-kill"],
  sentinel: ["replica-kill", "master-kill", "replica-kill", "master-stop"],
  cluster: ["replica-kill", "slot-move", "slot-move", "master-kill"],
};

export type FaultRecorder = (what: FaultRecord["what"], extra?: Omit<FaultRecord, "k" | "t" | "what">) => void;

export interface FaultTopology {
  readonly kind: TopologyKind;
  /** --redis-url for a tokenpool replica (Sentinel: only a placeholder, the sentinels name the primary). */
  readonly url: string;
  /** Topology flags for a tokenpool replica (--redis-timeout comes from the workload). */
  readonly flags: readonly string[];
  /** Injects one fault and returns once the topology serves writes again. */
  inject(fault: RedisFault, record: FaultRecorder, log: (line: string) => void): Promise<void>;
  stop(): Promise<void>;
}

export interface TopologyOptions {
  /** How long a SIGSTOP lasts. */
  readonly stopMs: number;
  /** The pool whose slot a Cluster run moves. */
  readonly pool: string;
}

export async function startFaultTopology(kind: TopologyKind, o: TopologyOptions): Promise<FaultTopology> {
  switch (kind) {
    case "single":
      return single(await startRedisServer({ durable: true }), o);
    case "sentinel":
      return sentinel(await startSentinelSet({ replicas: 1, sentinels: 3, downAfterMs: 1000 }), o);
    case "cluster":
      return cluster(await startRedisCluster({ masters: 3, replicasPerMaster: 1 }), o);
  }
}

const unsupported = (kind: TopologyKind, fault: RedisFault): Error => new Error(`topology ${kind} has no fault ${fault}`);

/** One redis-server with AOF appendfsync always: a crash loses nothing acknowledged. */
function single(redis: RedisServer, o: TopologyOptions): FaultTopology {
  return {
    kind: "single",
    url: redis.url,
    flags: [],
    async inject(fault, record, log) {
      if (fault === "redis-stop") {
        record("redis-stop");
        log(`fault: SIGSTOP redis-server for ${o.stopMs} ms`);
        redis.pause();
        await sleep(o.stopMs);
        redis.resume();
        record("redis-cont");
      } else if (fault === "redis-kill") {
        record("redis-kill");
        log("fault: kill -9 redis-server, restart from its AOF");
        await redis.crash();
        await sleep(500);
        await redis.start();
        record("redis-start");
      } else {
        throw unsupported("single", fault);
      }
    },
    stop: () => redis.stop(),
  };
}

/**
 * Primary + 1 replica (no persistence: the replica is the only copy) + 3 sentinels that fail over after
 * 1 s of silence. tokenpool runs with --redis-min-replicas-ack 1: an OK means the replica had it.
 */
function sentinel(set: SentinelSet, o: TopologyOptions): FaultTopology {
  const nodeOn = (port: number) => {
    const n = set.nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no data node on port ${port}`);
    return n;
  };
  /** Until the primary the sentinels name has its replica online again (writes can be confirmed). */
  const settle = async (): Promise<number> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const port = await set.masterPort();
      try {
        await set.waitForReplicas(port, 1, 2000);
        if ((await set.masterPort()) === port) return port;
      } catch (e) {
        if (Date.now() > until) throw e;
      }
    }
  };
  return {
    kind: "sentinel",
    url: "redis://127.0.0.1:1",
    flags: ["--redis-sentinels", set.sentinelList, "--redis-master-name", set.masterName, "--redis-min-replicas-ack", "1", "--redis-ack-timeout", "0.5"],
    async inject(fault, record, log) {
      const port = await set.masterPort();
      const primary = nodeOn(port);
      const t0 = Date.now();
      if (fault === "master-kill") {
        record("master-kill", { port });
        log(`fault: kill -9 the primary (port ${port})`);
        await primary.crash();
        const promoted = await set.waitForFailover(port, 30_000);
        record("failover", { port: promoted, ms: Date.now() - t0 });
        log(`  sentinels promoted ${promoted} after ${Date.now() - t0} ms; restarting the old primary as its replica`);
        // It has no data (no persistence), so it comes back as a replica of the current primary, as an
        // operator's start script does. Started as a primary, it would be an empty node that Sentinel
        // lists as a replica until it converts it (its next INFO, up to 10 s): a failover in that window
        // can promote it and wipe every copy (see docs/SCALING.md, Sentinel failover).
        await primary.start(["--replicaof", "127.0.0.1", String(promoted)]);
        record("master-start", { port });
      } else if (fault === "master-stop") {
        record("master-stop", { port });
        log(`fault: SIGSTOP the primary (port ${port}) for ${o.stopMs} ms, longer if its failover takes longer`);
        primary.pause();
        await sleep(o.stopMs);
        // Held until the sentinels have failed over under it: on a loaded machine their election can
        // outlast the stop, and the fault is a primary that resumes after it was replaced (demoted on
        // its sentinels' next INFO). No failover within 15 s: it resumes anyway, and the run shows it.
        await set.waitForFailover(port, 15_000).catch(() => port);
        primary.resume();
        record("master-cont", { port, ms: Date.now() - t0 });
        const now = await set.masterPort();
        if (now !== port) {
          record("failover", { port: now, ms: Date.now() - t0 });
          log(`  sentinels promoted ${now} during the stop; the old primary resumes and is demoted`);
        }
      } else {
        throw unsupported("sentinel", fault);
      }
      const serving = await settle();
      record("redis-start", { port: serving, ms: Date.now() - t0 });
      log(`  primary ${serving} has its replica again after ${Date.now() - t0} ms`);
    },
    stop: () => set.stop(),
  };
}

/** 3 masters with a replica each; tokenpool runs with --redis-cluster and --redis-min-replicas-ack 1. */
function cluster(c: RedisCluster, o: TopologyOptions): FaultTopology {
  return {
    kind: "cluster",
    url: c.seedUrl,
    flags: ["--redis-cluster", "--redis-min-replicas-ack", "1", "--redis-ack-timeout", "0.5"],
    async inject(fault, record, log) {
      if (fault === "master-kill") return killMaster(c, o.pool, record, log);
      if (fault !== "slot-move") throw unsupported("cluster", fault);
      const slot = Number(await c.admin.cluster("KEYSLOT", poolKeys(o.pool)[0]!));
      const masters = await c.masterPorts();
      const from = await c.ownerOf(slot);
      const to = masters[(masters.indexOf(from) + 1) % masters.length]!;
      const t0 = Date.now();
      record("slot-move", { port: to, slot });
      log(`fault: move slot ${slot} of pool ${o.pool} from master ${from} to ${to} under load`);
      // 60 ms between key batches: calls meet TRYAGAIN (keys split between the masters) and ASK.
      const keys = await c.moveSlot(slot, to, 60);
      record("slot-moved", { port: to, slot, keys, ms: Date.now() - t0 });
      log(`  ${keys} keys moved in ${Date.now() - t0} ms`);
    },
    stop: () => c.stop(),
  };
}

/** The master serving `slot` as a running node other than `not` sees it (undefined while none does). */
async function ownerSeenBy(c: RedisCluster, slot: number, not: number): Promise<number | undefined> {
  for (const n of c.nodes) {
    if (n.port === not || !n.running) continue;
    const a = n.admin();
    try {
      const r = (await a.cluster("SLOTS")).find((x) => slot >= x[0] && slot <= x[1]);
      return r?.[2] ? Number(r[2][1]) : undefined;
    } catch {
      // try the next node
    } finally {
      a.disconnect();
    }
  }
  return undefined;
}

/**
 * kill -9 of the master serving the pool: the cluster promotes its replica (node timeout 2 s); the old
 * master is restarted and rejoins as the new one's replica (its nodes.conf names the slot's epoch).
 */
async function killMaster(c: RedisCluster, pool: string, record: FaultRecorder, log: (line: string) => void): Promise<void> {
  const slot = Number(await c.admin.cluster("KEYSLOT", poolKeys(pool)[0]!));
  const port = await c.ownerOf(slot);
  const victim = c.nodes.find((n) => n.port === port)!;
  const t0 = Date.now();
  record("master-kill", { port, slot });
  log(`fault: kill -9 master ${port} (serves slot ${slot} of pool ${pool})`);
  await victim.crash();
  for (;;) {
    const now = await ownerSeenBy(c, slot, port);
    if (now !== undefined && now !== port) {
      record("failover", { port: now, ms: Date.now() - t0 });
      log(`  replica ${now} promoted after ${Date.now() - t0} ms; restarting the old master`);
      break;
    }
    if (Date.now() - t0 > 30_000) throw new Error(`no cluster failover from ${port} within 30 s`);
    await sleep(100);
  }
  await victim.start();
  record("master-start", { port });
  // Serving writes again once the new master has its replica back (--redis-min-replicas-ack 1).
  for (;;) {
    const owner = await ownerSeenBy(c, slot, -1);
    const node = c.nodes.find((n) => n.port === owner);
    if (node) {
      const a = node.admin();
      const info = await a.info("replication").catch(() => "");
      a.disconnect();
      if (/^slave\d+:.*state=online/m.test(info)) {
        record("redis-start", { port: owner, ms: Date.now() - t0 });
        log(`  master ${owner} has its replica again after ${Date.now() - t0} ms`);
        return;
      }
    }
    if (Date.now() - t0 > 60_000) throw new Error("the promoted master got no replica within 60 s");
    await sleep(100);
  }
}
