// A real Redis Cluster for tests and benches: N masters (and optional replicas) of redis-server on
// 127.0.0.1, joined by `redis-cli --cluster create`, with a slot mover for resharding under load.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Redis } from "ioredis";
import { freePort } from "./ports.js";
import { startRedisNode, type RedisNode } from "./redis-node.js";
import { sleep } from "./sleep.js";

const run = promisify(execFile);
const REDIS_CLI = process.env.REDIS_CLI ?? "/usr/bin/redis-cli";

export interface RedisClusterOptions {
  readonly masters?: number;
  readonly replicasPerMaster?: number;
}

export interface RedisCluster {
  /** redis://127.0.0.1:<first master>: one seed is enough, the client discovers the rest. */
  readonly seedUrl: string;
  readonly nodes: readonly RedisNode[];
  /** A plain client to the first node, for commands any node answers (CLUSTER KEYSLOT, SLOTS). */
  readonly admin: Redis;
  /** Port of the master that serves `slot` (as the node answering on `askPort` sees it). */
  ownerOf(slot: number): Promise<number>;
  /** Ports of the masters. */
  masterPorts(): Promise<number[]>;
  /**
   * Moves `slot` to the master on `toPort` the way `redis-cli --cluster reshard` does (IMPORTING,
   * MIGRATING, MIGRATE key batches, SETSLOT NODE everywhere); `pauseMs` between steps widens the
   * window in which clients meet ASK and TRYAGAIN. Returns how many keys moved.
   */
  moveSlot(slot: number, toPort: number, pauseMs?: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const nodes: RedisNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const busPort = await freePort(); // the default (port + 10000) may be out of range or taken
      nodes.push(
        await startRedisNode(() => [
          "--cluster-enabled", "yes",
          "--cluster-config-file", "nodes.conf",
          "--cluster-port", String(busPort),
          "--cluster-node-timeout", "2000",
          // Tests may stop a master on purpose: the rest of the cluster keeps serving its own slots.
          "--cluster-require-full-coverage", "no",
        ]),
      );
    }
    await run(REDIS_CLI, [
      "--cluster", "create",
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas", String(replicas),
      "--cluster-yes",
    ]);
    await waitUntilAgreed(nodes, masters, replicas);
  } catch (e) {
    await stop();
    throw e;
  }
  const admins = new Map<number, Redis>();
  const admin = (port: number): Redis => {
    let c = admins.get(port);
    if (!c) {
      const node = nodes.find((n) => n.port === port);
      if (!node) throw new Error(`no cluster node on port ${port}`);
      c = node.admin();
      admins.set(port, c);
    }
    return c;
  };
  const idOf = async (port: number): Promise<string> => String(await admin(port).cluster("MYID"));
  /** Slot ranges and the port of the master serving each, as the first node sees them. */
  const slotRanges = async (): Promise<{ from: number; to: number; port: number }[]> => {
    const ranges = await admin(nodes[0]!.port).cluster("SLOTS");
    return ranges.map((r) => ({ from: r[0], to: r[1], port: Number(r[2]?.[1]) }));
  };
  const ownerOf = async (slot: number): Promise<number> => {
    const range = (await slotRanges()).find((r) => slot >= r.from && slot <= r.to);
    if (!range) throw new Error(`slot ${slot} is not served`);
    return range.port;
  };
  const masterPorts = async (): Promise<number[]> => [...new Set((await slotRanges()).map((r) => r.port))].sort((a, b) => a - b);
  return {
    seedUrl: `redis://127.0.0.1:${nodes[0]!.port}`,
    nodes,
    admin: admin(nodes[0]!.port),
    ownerOf,
    masterPorts,
    async moveSlot(slot, toPort, pauseMs = 0) {
      const fromPort = await ownerOf(slot);
      if (fromPort === toPort) return 0;
      const [fromId, toId] = [await idOf(fromPort), await idOf(toPort)];
      const from = admin(fromPort);
      const to = admin(toPort);
      await to.cluster("SETSLOT", slot, "IMPORTING", fromId);
      await from.cluster("SETSLOT", slot, "MIGRATING", toId);
      let moved = 0;
      for (;;) {
        const keys = (await from.cluster("GETKEYSINSLOT", slot, 2)) as string[];
        if (keys.length === 0) break;
        await from.migrate("127.0.0.1", toPort, "", 0, 5000, "REPLACE", "KEYS", ...keys);
        moved += keys.length;
        if (pauseMs > 0) await sleep(pauseMs); // keys of one slot now on two nodes: multi-key scripts get TRYAGAIN
      }
      // Target first, then source, then everyone else, as redis-cli does.
      await to.cluster("SETSLOT", slot, "NODE", toId);
      await from.cluster("SETSLOT", slot, "NODE", toId);
      for (const p of await masterPorts()) if (p !== fromPort && p !== toPort) await admin(p).cluster("SETSLOT", slot, "NODE", toId);
      return moved;
    },
    async stop() {
      for (const c of admins.values()) c.disconnect();
      await stop();
    },
  };
}

/** Waits until every node reports cluster_state:ok, sees `masters` masters, and each master has its replicas in sync. */
async function waitUntilAgreed(nodes: readonly RedisNode[], masters: number, replicas: number): Promise<void> {
  const until = Date.now() + 20_000;
  const admins = nodes.map((n) => n.admin());
  try {
    for (;;) {
      const states = await Promise.all(
        admins.map(async (a) => {
          const info = String(await a.cluster("INFO"));
          const size = /cluster_size:(\d+)/.exec(info)?.[1];
          const replication = await a.info("replication");
          const inSync = !replication.includes("role:master") || [...replication.matchAll(/^slave\d+:.*state=online/gm)].length >= replicas;
          return info.includes("cluster_state:ok") && Number(size) === masters && inSync;
        }),
      );
      if (states.every(Boolean)) return;
      if (Date.now() > until) throw new Error("redis cluster did not converge within 20 s");
      await sleep(100);
    }
  } finally {
    for (const a of admins) a.disconnect();
  }
}
