// AssignToken + ReleaseToken throughput, memory vs lmdb in one run (servers as child processes, 64
// concurrent callers). Usage: node --import tsx bench/store/bench-store.ts [--clients 64] [--seconds 8]
// With --by-pool-size: AssignTokens(8) and ListTokens(100) cost per call from 10^3 to 10^6 tokens
// (by-pool-size.ts; --sizes 1000,1000000 --stores lmdb,memory).

import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  AssignTokenRequestSchema,
  AssignTokenResponseSchema,
  ReleaseTokenRequestSchema,
  ReleaseTokenResponseSchema,
} from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { duration, tokenClient } from "../../test/harness/token-client.js";
import { startServer } from "../../test/harness/server-process.js";
import { quantile } from "../../test/harness/stats.js";
import { benchByPoolSize, reportByPoolSize } from "./by-pool-size.js";
import { H2UnaryClient } from "./h2-unary-client.js";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "64" },
    seconds: { type: "string", default: "8" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "2" },
    connections: { type: "string", default: "4" },
    "by-pool-size": { type: "boolean", default: false },
    sizes: { type: "string", default: "1000,1000000" },
    stores: { type: "string", default: "lmdb,memory" },
  },
});
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const PASSWORD = "bench-password";
const POOL = "bench";
const ASSIGN = "/tokenpool.v1.TokenService/AssignToken";
const RELEASE = "/tokenpool.v1.TokenService/ReleaseToken";
const STORES = ["memory", "lmdb"] as const;

if (values["by-pool-size"]) {
  const loadBefore = loadavg();
  const o = {
    stores: values.stores.split(","),
    sizes: values.sizes.split(",").map(Number),
    rounds: ROUNDS,
    seconds: SECONDS,
    warmup: WARMUP,
    // Enough callers to keep two cores busy, few enough that a 10^3 pool never runs out (16 gangs of 8).
    clients: Math.min(CLIENTS, 16),
    connections: Math.min(CONNECTIONS, 2),
  };
  reportByPoolSize(await benchByPoolSize(o, (line) => process.stderr.write(`${line}\n`)), o, loadBefore);
  process.exit(0);
}
type StoreName = (typeof STORES)[number];

interface Phase {
  readonly pairs: number;
  readonly errors: number;
  readonly latencies: number[];
}

/** 64 loops of assign + release for `seconds`; counts completed pairs and their latencies. */
async function drive(clients: readonly H2UnaryClient[], seconds: number): Promise<Phase> {
  const until = performance.now() + seconds * 1000;
  let pairs = 0;
  let errors = 0;
  const latencies: number[] = [];
  const loop = async (i: number): Promise<void> => {
    const c = clients[i % clients.length]!;
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        const { lease } = await c.call(ASSIGN, AssignTokenRequestSchema, AssignTokenResponseSchema, {
          pool: POOL,
          owner: `client-${i}`,
          leaseTtl: duration(60_000),
        });
        await c.call(RELEASE, ReleaseTokenRequestSchema, ReleaseTokenResponseSchema, { pool: POOL, token: lease!.token, generation: lease!.generation });
        pairs++;
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => loop(i)));
  return { pairs, errors, latencies };
}

async function measure(store: StoreName): Promise<Phase> {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-bench-"));
  const server = await startServer(["--store", store, "--data-dir", dir, "--api-password", PASSWORD, "--total-tokens", "0", "--log-level", "info"]);
  try {
    await tokenClient(server.url, PASSWORD).createPool({ name: POOL, maxTokens: 10_000, initialTokens: CLIENTS * 4 });
    const clients = Array.from({ length: CONNECTIONS }, () => new H2UnaryClient(server.url, PASSWORD));
    try {
      await drive(clients, WARMUP);
      return await drive(clients, SECONDS);
    } finally {
      for (const c of clients) c.close();
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<StoreName, Phase[]> = { memory: [], lmdb: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const store of STORES) {
    const phase = await measure(store);
    results[store].push(phase);
    process.stderr.write(`round ${round + 1} ${store}: ${(phase.pairs / SECONDS).toFixed(0)} pairs/s\n`);
  }
}

const summary = STORES.map((store) => {
  const phases = results[store];
  const pairs = phases.reduce((n, p) => n + p.pairs, 0);
  const latencies = phases.flatMap((p) => p.latencies);
  return {
    store,
    pairsPerSec: Math.round(pairs / (SECONDS * phases.length)),
    rpcsPerSec: Math.round((2 * pairs) / (SECONDS * phases.length)),
    p50Ms: Number(quantile(latencies, 0.5).toFixed(2)),
    p99Ms: Number(quantile(latencies, 0.99).toFixed(2)),
    errors: phases.reduce((n, p) => n + p.errors, 0),
  };
});
const ratio = summary[1]!.pairsPerSec / summary[0]!.pairsPerSec;

console.log(`AssignToken+ReleaseToken, ${CLIENTS} concurrent Connect (binary, h2c) callers over ${CONNECTIONS} connections, ${ROUNDS} x ${SECONDS} s per store`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`);
console.log("store    pairs/s   rpcs/s   p50 ms   p99 ms   errors");
for (const s of summary) {
  console.log(
    `${s.store.padEnd(8)} ${String(s.pairsPerSec).padStart(7)} ${String(s.rpcsPerSec).padStart(8)} ${s.p50Ms.toFixed(2).padStart(8)} ${s.p99Ms.toFixed(2).padStart(8)} ${String(s.errors).padStart(8)}`,
  );
}
console.log(`lmdb / memory: ${(ratio * 100).toFixed(0)} % (target >= 50 %)`);
console.log(JSON.stringify({ bench: "store", clients: CLIENTS, seconds: SECONDS, rounds: ROUNDS, stores: summary, lmdbOverMemory: Number(ratio.toFixed(3)) }));
