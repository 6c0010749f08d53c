// Redis store benchmark (`npm run bench:redis`): AssignToken+ReleaseToken pairs per second through 1 and
// 3 tokenpool replicas on one local Redis, next to the raw rate of the same Lua scripts called with
// EVALSHA from one pipelined client at the same concurrency, in the same run, on the same Redis. A
// memory-store replica under the same load shows the transport's own ceiling. The replica rows run
// twice: through the generated Connect client (binary, HTTP/2) and through a thin native-gRPC client
// (bench/load/pair-driver.ts, hand-framed, served by the grpc-js engine). Table, then one JSON line.

import { cpus } from "node:os";
import { Redis } from "ioredis";
import { createLogger } from "../../src/runtime/logger.js";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import { startRedisServer, type RedisServer } from "../../test/harness/redis-server.js";
import { REPLICA_PASSWORD, startReplica, replicaClient, type Replica, type TokenClient } from "../../test/harness/replica-process.js";
import { drivePairs } from "../load/pair-driver.js";
import { measure } from "./measure.js";
import { rawLuaPool } from "./raw-lua.js";

const CONCURRENCY = 64;
const WARMUP_MS = 4000; // three fresh replicas each see a third of the calls: give their JIT time
const MEASURE_MS = 8000;
const TOKENS = 1000;
const RING = 10_000;
const SESSIONS_PER_REPLICA = 4;

const log = (s: string): void => void process.stderr.write(s + "\n");

const WINDOW = { concurrency: CONCURRENCY, warmupMs: WARMUP_MS, measureMs: MEASURE_MS };

async function rawLua(redis: RedisServer): Promise<number> {
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  const pool = await rawLuaPool(client, "raw", TOKENS, RING);
  const rate = await measure(WINDOW, (w) => pool.pair(`w${w}`));
  client.disconnect();
  return rate;
}

/** The RedisStore called in-process: the store's own cost on top of the scripts, without a transport. */
async function storeDirect(redis: RedisServer): Promise<number> {
  const store = await RedisStore.open({ url: redis.url, eventRingSize: RING, watchBuffer: RING, log: createLogger("silent") });
  const created = await store.createPool("direct", { leaseTtlMs: 60_000, maxTokens: TOKENS }, TOKENS);
  if (!created.ok) throw new Error(JSON.stringify(created.error));
  const rate = await measure(WINDOW, async (w) => {
    const a = await store.assign("direct", `w${w}`, {});
    if (!a.ok) throw new Error(JSON.stringify(a.error));
    const r = await store.release("direct", a.value.lease.token, { generation: a.value.lease.generation });
    if (!r.ok) throw new Error(JSON.stringify(r.error));
  });
  await store.close();
  return rate;
}

async function throughReplicas(replicas: readonly Replica[], pool: string): Promise<number> {
  const clients: TokenClient[] = replicas.flatMap((r) => Array.from({ length: SESSIONS_PER_REPLICA }, () => replicaClient(r.url)));
  await clients[0]!.createPool({ name: pool, leaseTtl: { seconds: 60n }, maxTokens: TOKENS, initialTokens: TOKENS });
  return measure(WINDOW, async (w) => {
    const client = clients[w % clients.length]!;
    const { lease } = await client.assignToken({ pool, owner: `w${w}` });
    await client.releaseToken({ pool, token: lease!.token, generation: lease!.generation });
  });
}

/**
 * The same pairs over native gRPC from the thin client, about CONCURRENCY streams in all spread over
 * the replicas; a warm-up run first, then the measured one (pair-driver has no window of its own).
 */
async function grpcThroughReplicas(replicas: readonly Replica[], pool: string): Promise<number> {
  await replicaClient(replicas[0]!.url).createPool({ name: pool, leaseTtl: { seconds: 60n }, maxTokens: TOKENS, initialTokens: TOKENS });
  const streams = Math.max(1, Math.round(CONCURRENCY / (replicas.length * SESSIONS_PER_REPLICA)));
  const run = (seconds: number) =>
    Promise.all(
      replicas.map((r, i) =>
        drivePairs({ url: r.url, protocol: "grpc", password: REPLICA_PASSWORD, pool, owner: `g${i}`, connections: SESSIONS_PER_REPLICA, streams, seconds }),
      ),
    );
  await run(WARMUP_MS / 1000);
  const results = await run(MEASURE_MS / 1000);
  const failed = results.find((r) => r.errors > 0);
  if (failed) log(`  ${failed.errors} errors, first: ${failed.firstError}`);
  return Math.round(results.reduce((sum, r) => sum + r.pairs / r.seconds, 0));
}

async function withReplicas<T>(n: number, redisUrl: string, extra: readonly string[], run: (r: Replica[]) => Promise<T>): Promise<T> {
  const replicas = await Promise.all(Array.from({ length: n }, () => startReplica(redisUrl, extra)));
  try {
    return await run(replicas);
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

const started = Date.now();
const redis = await startRedisServer();
try {
  log(`raw Lua: EVALSHA assign+release, ${CONCURRENCY} in flight on one auto-pipelined connection…`);
  const raw = await rawLua(redis);
  log("RedisStore in-process (no transport)…");
  const direct = await storeDirect(redis);
  log("memory store, 1 replica (transport ceiling)…");
  const memory1 = await withReplicas(1, redis.url, ["--store", "memory"], (r) => throughReplicas(r, "bench-mem"));
  log("redis store, 1 replica…");
  const redis1 = await withReplicas(1, redis.url, [], (r) => throughReplicas(r, "bench-1"));
  log("redis store, 3 replicas…");
  const redis3 = await withReplicas(3, redis.url, [], (r) => throughReplicas(r, "bench-3"));
  log("native gRPC (grpc-js engine, thin client): memory store, redis 1 and 3 replicas…");
  const grpcMemory1 = await withReplicas(1, redis.url, ["--store", "memory"], (r) => grpcThroughReplicas(r, "grpc-mem"));
  const grpcRedis1 = await withReplicas(1, redis.url, [], (r) => grpcThroughReplicas(r, "grpc-1"));
  const grpcRedis3 = await withReplicas(3, redis.url, [], (r) => grpcThroughReplicas(r, "grpc-3"));

  const pct = (x: number): string => `${((100 * x) / raw).toFixed(1)} %`;
  const rows: [string, string, number, string][] = [
    ["raw Lua (EVALSHA, pipelined)", "-", raw, "100 %"],
    ["RedisStore in-process", "-", direct, pct(direct)],
    ["memory store (no Redis)", "1", memory1, pct(memory1)],
    ["redis store", "1", redis1, pct(redis1)],
    ["redis store", "3", redis3, pct(redis3)],
    ["memory store, native gRPC", "1", grpcMemory1, pct(grpcMemory1)],
    ["redis store, native gRPC", "1", grpcRedis1, pct(grpcRedis1)],
    ["redis store, native gRPC", "3", grpcRedis3, pct(grpcRedis3)],
  ];
  console.log(`${"what".padEnd(30)} ${"replicas".padStart(8)} ${"pairs/s".padStart(9)} ${"vs raw Lua".padStart(11)}`);
  for (const [what, n, rate, vs] of rows) console.log(`${what.padEnd(30)} ${n.padStart(8)} ${String(rate).padStart(9)} ${vs.padStart(11)}`);
  console.log(
    `(pair = AssignToken + ReleaseToken; ${CONCURRENCY} concurrent callers over Connect binary/HTTP/2 (generated client) ` +
      `or native gRPC (thin client, grpc-js engine), ` +
      `${SESSIONS_PER_REPLICA} sessions per replica; load generator, replicas and Redis share ${cpus().length} CPUs: ${cpus()[0]?.model ?? "?"})`,
  );
  const result = {
    raw_lua_pairs_per_s: raw,
    store_in_process_pairs_per_s: direct,
    memory_1_replica_pairs_per_s: memory1,
    redis_1_replica_pairs_per_s: redis1,
    redis_3_replicas_pairs_per_s: redis3,
    grpc_memory_1_replica_pairs_per_s: grpcMemory1,
    grpc_redis_1_replica_pairs_per_s: grpcRedis1,
    grpc_redis_3_replicas_pairs_per_s: grpcRedis3,
    grpc_redis_1_vs_raw: Math.round((1000 * grpcRedis1) / raw) / 1000,
    grpc_redis_3_vs_raw: Math.round((1000 * grpcRedis3) / raw) / 1000,
    redis_1_vs_raw: Math.round((1000 * redis1) / raw) / 1000,
    redis_3_vs_raw: Math.round((1000 * redis3) / raw) / 1000,
    redis_1_vs_memory_1: Math.round((1000 * redis1) / memory1) / 1000,
    concurrency: CONCURRENCY,
    cpus: cpus().length,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  console.log(JSON.stringify(result));
} finally {
  await redis.stop();
}
