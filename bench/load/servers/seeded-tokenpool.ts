// tokenpool's own startServer (compiled) plus seeding through its store: 10^6 live leases due at a fixed
// rate, for the lateness scenario (BENCH_LEASES, BENCH_EXPIRY_RATE, BENCH_SEED_BUDGET_MS; flags are tokenpool's).

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

const started = Date.now();
const firstDeadline = started + budgetMs;
const created = await store.createPool(POOL, { leaseTtlMs: 3_600_000, idleTtlMs: 0, maxTokens: leases }, 0);
if (!created.ok) throw new Error(`createPool: ${JSON.stringify(created.error)}`);
for (let made = 0; made < leases; made += GENERATE_BATCH) {
  const r = await store.generate(POOL, { count: Math.min(GENERATE_BATCH, leases - made) });
  if (!r.ok) throw new Error(`generate: ${JSON.stringify(r.error)}`);
}
// Lease i is due at firstDeadline + i / rate: an even stream of `rate` expiries per second.
for (let i = 0; i < leases; i++) {
  const due = firstDeadline + Math.floor((i * 1000) / ratePerSec);
  const r = await store.assign(POOL, "seed", { leaseTtlMs: due - Date.now() });
  if (!r.ok) throw new Error(`assign ${i}: ${JSON.stringify(r.error)}`);
}
// Seeding leaves ~10^6 events and promises of garbage behind; a server that gathered its leases over
// hours would not carry that into its first expiries, so start the measurement from a settled heap
// (the bench starts this server with --expose-gc; without it this is skipped).
(globalThis as { gc?: () => void }).gc?.();
const seededMs = Date.now() - started;
announce({ address: "127.0.0.1", family: "IPv4", port: server.port });
process.stdout.write(`${JSON.stringify({ seeded: leases, pool: POOL, firstDeadline, ratePerSec, seededMs })}\n`);
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
