// tokenpool's own startServer (compiled) plus seeding through its store: 10^6 live leases due at a fixed
// rate, for the lateness scenario (BENCH_LEASES, BENCH_EXPIRY_RATE, BENCH_SEED_BUDGET_MS; flags are tokenpool's).
// Reports the whole process's memory per live lease once seeded (heap after GC), against its own
// footprint before seeding.

import { loadConfig } from "../../../src/config/config.js";
import { systemClock } from "../../../src/runtime/clock.js";
import { createLogger } from "../../../src/runtime/logger.js";
import { startServer } from "../../../src/server/server.js";
import { announce } from "./listen.js";

const POOL = "expiry";
const GENERATE_BATCH = 100_000;

const leases = Number(process.env.BENCH_LEASES ?? "1000000");
const ratePerSec = Number(process.env.BENCH_EXPIRY_RATE ?? "10000");
/** The first deadline is this long after seeding starts; seeding must finish before it. */
const budgetMs = Number(process.env.BENCH_SEED_BUDGET_MS ?? "30000");

const config = loadConfig(process.argv.slice(2), process.env);
if (config === "help") throw new Error("--help is not for the bench server");
const server = await startServer(config, { clock: systemClock, log: createLogger(config.logLevel), announcePassword: () => undefined });
const { store } = server;

/** Assigns in flight at once while seeding: lets a durable store group its commits. */
const SEED_WINDOW = 1024;
const gc = (globalThis as { gc?: () => void }).gc;
/** Heap (after full collections) plus array buffers (lmdb and typed-array storage), and RSS. */
function footprint(): { heapBytes: number; rssBytes: number } {
  for (let i = 0; i < 4; i++) gc?.();
  const m = process.memoryUsage();
  return { heapBytes: m.heapUsed + m.arrayBuffers, rssBytes: m.rss };
}
const before = footprint();

const started = Date.now();
const firstDeadline = started + budgetMs;
const created = await store.createPool(POOL, { leaseTtlMs: 3_600_000, idleTtlMs: 0, maxTokens: leases }, 0);
if (!created.ok) throw new Error(`createPool: ${JSON.stringify(created.error)}`);
for (let made = 0; made < leases; made += GENERATE_BATCH) {
  const r = await store.generate(POOL, { count: Math.min(GENERATE_BATCH, leases - made) });
  if (!r.ok) throw new Error(`generate: ${JSON.stringify(r.error)}`);
}
// Lease i is due at firstDeadline + i / rate: an even stream of `rate` expiries per second.
for (let from = 0; from < leases; from += SEED_WINDOW) {
  const window: Promise<void>[] = [];
  for (let i = from; i < Math.min(leases, from + SEED_WINDOW); i++) {
    const due = firstDeadline + Math.floor((i * 1000) / ratePerSec);
    window.push(
      store.assign(POOL, "seed", { leaseTtlMs: due - Date.now() }).then((r) => {
        if (!r.ok) throw new Error(`assign ${i}: ${JSON.stringify(r.error)}`);
      }),
    );
  }
  await Promise.all(window);
}
// Seeding leaves ~10^6 events and promises of garbage behind; a server that gathered its leases over
// hours would not carry that into its first expiries, so start the measurement from a settled heap
// (the bench starts this server with --expose-gc; without it this is skipped).
const seededMs = Date.now() - started;
const after = footprint();
const memory = gc
  ? {
      store: store.kind,
      heapBytesBefore: before.heapBytes,
      heapBytes: after.heapBytes,
      rssBytes: after.rssBytes,
      /** The figure: the whole process's heap (after GC) and array buffers over its live leases. */
      bytesPerLease: Math.round(after.heapBytes / leases),
      /** The same less the process's footprint before seeding (the baseline of the same run). */
      addedBytesPerLease: Math.round((after.heapBytes - before.heapBytes) / leases),
    }
  : undefined;
announce({ address: "127.0.0.1", family: "IPv4", port: server.port });
process.stdout.write(`${JSON.stringify({ seeded: leases, pool: POOL, firstDeadline, ratePerSec, seededMs, memory })}\n`);
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
