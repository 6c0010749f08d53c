// Redis Cluster benchmark (`npm run bench:redis-cluster`, A B B A rounds): aggregate AssignToken throughput (each
// assign paired with its release, so tokens never run out) of 3 tokenpool replicas on a 3-master
// Redis Cluster, pools spread over the masters, against the same replicas and pools on one
// redis-server, in the same run; plus the RedisStore called in-process on each (no transport).

import { cpus, loadavg } from "node:os";
import { createLogger } from "../../src/runtime/logger.js";
import { poolKeys } from "../../src/store/redis/keys.js";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import type { RedisTopology } from "../../src/config/redis-topology.js";
import { startRedisCluster, type RedisCluster } from "../../test/harness/redis-cluster.js";
import { startRedisServer } from "../../test/harness/redis-server.js";
import { installCleanup } from "../../test/harness/processes.js";
import { startReplica, replicaClient, type Replica, type TokenClient } from "../../test/harness/replica-process.js";
import { measure } from "./measure.js";

const CONCURRENCY = 64;
const WINDOW = { concurrency: CONCURRENCY, warmupMs: 4000, measureMs: 8000 };
const REPLICAS = 3;
const SESSIONS_PER_REPLICA = 4;
const POOLS_PER_MASTER = 2;
const TOKENS = 200;
const RING = 10_000;

const log = (s: string): void => void process.stderr.write(s + "\n");

/** Pool names (starting with `prefix`) whose slots put POOLS_PER_MASTER pools on each master of the cluster. */
async function spreadNames(cluster: RedisCluster, prefix: string): Promise<string[]> {
  const masters = await cluster.masterPorts();
  const byMaster = new Map<number, string[]>(masters.map((p) => [p, []]));
  for (let i = 0; [...byMaster.values()].some((l) => l.length < POOLS_PER_MASTER); i++) {
    const name = `${prefix}${i}`;
    const owner = await cluster.ownerOf(Number(await cluster.admin.cluster("KEYSLOT", poolKeys(name)[0]!)));
    const list = byMaster.get(owner)!;
    if (list.length < POOLS_PER_MASTER) list.push(name);
  }
  return [...byMaster.values()].flat();
}

async function throughReplicas(url: string, extra: readonly string[], names: readonly string[]): Promise<number> {
  const replicas: Replica[] = await Promise.all(Array.from({ length: REPLICAS }, () => startReplica(url, extra)));
  try {
    const clients: TokenClient[] = replicas.flatMap((r) => Array.from({ length: SESSIONS_PER_REPLICA }, () => replicaClient(r.url)));
    for (const name of names) await clients[0]!.createPool({ name, leaseTtl: { seconds: 60n }, maxTokens: TOKENS, initialTokens: TOKENS });
    return await measure(WINDOW, async (w) => {
      const client = clients[w % clients.length]!;
      const pool = names[w % names.length]!;
      const { lease } = await client.assignToken({ pool, owner: `w${w}` });
      await client.releaseToken({ pool, token: lease!.token, generation: lease!.generation });
    });
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

async function inProcess(url: string, topology: RedisTopology, names: readonly string[]): Promise<number> {
  const store = await RedisStore.open({ url, topology, eventRingSize: RING, watchBuffer: RING, log: createLogger("silent") });
  try {
    for (const name of names) {
      const created = await store.createPool(name, { leaseTtlMs: 60_000, maxTokens: TOKENS }, TOKENS);
      if (!created.ok) throw new Error(JSON.stringify(created.error));
    }
    return await measure(WINDOW, async (w) => {
      const pool = names[w % names.length]!;
      const a = await store.assign(pool, `w${w}`, {});
      if (!a.ok) throw new Error(JSON.stringify(a.error));
      const r = await store.release(pool, a.value.lease.token, { generation: a.value.lease.generation });
      if (!r.ok) throw new Error(JSON.stringify(r.error));
    });
  } finally {
    await store.close();
  }
}

installCleanup();
const started = Date.now();
const load = loadavg()[0]!;
const single = await startRedisServer();
const cluster = await startRedisCluster({ masters: 3 });
try {
  // Fresh pools per round, each set spread POOLS_PER_MASTER per master (names decide slots).
  const sets: string[][] = [];
  for (let r = 1; r <= 8; r++) sets.push(await spreadNames(cluster, `b${r}-`));
  log(`pools per round, ${POOLS_PER_MASTER} per master: ${sets[0]!.join(", ")}, …`);
  const pools = sets[0]!;
  // A B B A: each setup measured twice, once early and once late, so a drift in the machine's load
  // (shared with other work) hits both about equally; the rows are the means, the rounds are shown.
  const abba = async (what: string, a: () => Promise<number>, b: () => Promise<number>): Promise<[number[], number[]]> => {
    log(`${what}: one redis-server…`);
    const a1 = await a();
    log(`${what}: 3-master cluster…`);
    const b1 = await b();
    log(`${what}: 3-master cluster again…`);
    const b2 = await b();
    log(`${what}: one redis-server again…`);
    const a2 = await a();
    return [
      [a1, a2],
      [b1, b2],
    ];
  };
  let round = 0;
  const next = (): string[] => sets[round++]!;
  const [directSingleRuns, directClusterRuns] = await abba(
    "in-process RedisStore",
    () => inProcess(single.url, { kind: "single" }, next()),
    () => inProcess(cluster.seedUrl, { kind: "cluster" }, next()),
  );
  const [replicasSingleRuns, replicasClusterRuns] = await abba(
    `${REPLICAS} replicas`,
    () => throughReplicas(single.url, [], next()),
    () => throughReplicas(cluster.seedUrl, ["--redis-cluster"], next()),
  );
  const mean = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  const [directSingle, directCluster, replicasSingle, replicasCluster] = [directSingleRuns, directClusterRuns, replicasSingleRuns, replicasClusterRuns].map(mean) as [
    number,
    number,
    number,
    number,
  ];
  const ratio = (a: number, b: number): number => Math.round((1000 * a) / b) / 1000;
  const rows: [string, number, string, number[]][] = [
    ["RedisStore in-process, one redis-server", directSingle, "1.00", directSingleRuns],
    ["RedisStore in-process, 3-master cluster", directCluster, ratio(directCluster, directSingle).toFixed(2), directClusterRuns],
    [`${REPLICAS} replicas, one redis-server`, replicasSingle, "1.00", replicasSingleRuns],
    [`${REPLICAS} replicas, 3-master cluster`, replicasCluster, ratio(replicasCluster, replicasSingle).toFixed(2), replicasClusterRuns],
  ];
  console.log(`${"what".padEnd(42)} ${"assigns/s".padStart(10)} ${"vs one server".padStart(14)}  rounds`);
  for (const [what, rate, vs, runs] of rows) console.log(`${what.padEnd(42)} ${String(rate).padStart(10)} ${vs.padStart(14)}  ${runs.join(" / ")}`);
  console.log(
    `(each assign paired with its release; ${CONCURRENCY} concurrent callers, ${pools.length} pools, ${POOLS_PER_MASTER} per master; ` +
      `replicas over Connect binary/HTTP/2, ${SESSIONS_PER_REPLICA} sessions each; everything shares ${cpus().length} CPUs ` +
      `(${cpus()[0]?.model ?? "?"}), load average ${load.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at the end)`,
  );
  console.log(
    JSON.stringify({
      in_process_single_assigns_per_s: directSingle,
      in_process_cluster_assigns_per_s: directCluster,
      in_process_cluster_vs_single: ratio(directCluster, directSingle),
      replicas_single_assigns_per_s: replicasSingle,
      replicas_cluster_assigns_per_s: replicasCluster,
      replicas_cluster_vs_single: ratio(replicasCluster, replicasSingle),
      rounds: { directSingleRuns, directClusterRuns, replicasSingleRuns, replicasClusterRuns },
      replicas: REPLICAS,
      masters: 3,
      pools: pools.length,
      concurrency: CONCURRENCY,
      cpus: cpus().length,
      load_average_start: Math.round(load * 10) / 10,
      seconds: Math.round((Date.now() - started) / 1000),
    }),
  );
} finally {
  await cluster.stop();
  await single.stop();
}
