// A real Sentinel setup for tests: one primary, its replicas and N sentinels (`redis-server --sentinel`)
// on 127.0.0.1, tuned to fail over within a few seconds; nodes can be killed -9 and restarted.

import type { Redis } from "ioredis";
import { startRedisNode, type RedisNode } from "./redis-node.js";
import { sleep } from "./sleep.js";

export interface SentinelSetOptions {
  readonly replicas?: number;
  readonly sentinels?: number;
  readonly masterName?: string;
  /** Sentinel's down-after-milliseconds: how long the primary may be silent before failover starts. */
  readonly downAfterMs?: number;
}

export interface SentinelSet {
  readonly masterName: string;
  /** host:port,… for --redis-sentinels. */
  readonly sentinelList: string;
  /** The data nodes: [0] starts as primary, the rest as its replicas. */
  readonly nodes: readonly RedisNode[];
  readonly sentinels: readonly RedisNode[];
  /** The primary's port as the sentinels report it now. */
  masterPort(): Promise<number>;
  /** Waits until the sentinels name a primary other than `oldPort`; returns its port. */
  waitForFailover(oldPort: number, timeoutMs: number): Promise<number>;
  /** Waits until the primary on `port` reports `count` replicas online. */
  waitForReplicas(port: number, count: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startSentinelSet(options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const masterName = options.masterName ?? "tp-primary";
  const replicas = options.replicas ?? 1;
  const count = options.sentinels ?? 3;
  const nodes: RedisNode[] = [];
  const sentinels: RedisNode[] = [];
  const admins: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const a of admins) a.disconnect();
    await Promise.all([...sentinels, ...nodes].map((n) => n.stop()));
  };
  const adminOf = (node: RedisNode): Redis => {
    const a = node.admin();
    admins.push(a);
    return a;
  };
  const waitForReplicas = async (port: number, want: number, timeoutMs: number): Promise<void> => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no data node on port ${port}`);
    const a = adminOf(node);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const info = await a.info("replication").catch(() => "");
      const online = [...info.matchAll(/^slave\d+:.*state=online/gm)].length;
      if (online >= want) return;
      if (Date.now() > until) throw new Error(`primary on ${port} has ${online} of ${want} replicas online: ${info}`);
      await sleep(50);
    }
  };
  try {
    // A full sync starts at once (Redis waits 5 s by default to serve several replicas with one transfer).
    const data = ["--repl-diskless-sync-delay", "0"];
    nodes.push(await startRedisNode(() => data));
    const primary = nodes[0]!.port;
    for (let i = 0; i < replicas; i++) nodes.push(await startRedisNode(() => [...data, "--replicaof", "127.0.0.1", String(primary)]));
    await waitForReplicas(primary, replicas, 10_000);
    const downAfter = options.downAfterMs ?? 1000;
    const config = [
      `sentinel monitor ${masterName} 127.0.0.1 ${primary} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${masterName} ${downAfter}`,
      `sentinel failover-timeout ${masterName} 3000`,
      `sentinel parallel-syncs ${masterName} 1`,
      "",
    ].join("\n");
    for (let i = 0; i < count; i++) sentinels.push(await startRedisNode(() => [], { sentinel: true, config }));
  } catch (e) {
    await stop();
    throw e;
  }
  const sentinelAdmins = sentinels.map(adminOf);
  const masterPort = async (): Promise<number> => {
    for (const a of sentinelAdmins) {
      const addr = (await a.call("SENTINEL", "get-master-addr-by-name", masterName).catch(() => null)) as [string, string] | null;
      if (addr) return Number(addr[1]);
    }
    throw new Error("no sentinel answered");
  };
  return {
    masterName,
    sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(","),
    nodes,
    sentinels,
    masterPort,
    async waitForFailover(oldPort, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const port = await masterPort();
        if (port !== oldPort) return port;
        if (Date.now() > until) throw new Error(`no failover from ${oldPort} within ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    waitForReplicas,
    stop,
  };
}
