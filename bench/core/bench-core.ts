// Core benchmark (`npm run bench:core`, needs --expose-gc): per-operation cost across pool sizes,
// the wheel against a binary-heap expiry queue, bytes per token, and the longest advance() call
// while a million co-due leases expire. Prints a table, then one JSON line.

import { TokenPools } from "../../src/core/token-pools.js";
import { DEFAULT_EXPIRY_BATCH } from "../../src/runtime/expiry-driver.js";
import { assignKeepAliveRelease, assignManyRelease, assignRelease, fixture, heapTimers, listPage, probeFixture, randomProbe } from "./workloads.js";

const big = process.argv.includes("--big");
const sizes = big ? [1e3, 1e4, 1e5, 1e6, 1e7] : [1e3, 1e4, 1e5, 1e6];
const OPS = 200_000;
const GANG_K = 8;
const LIST_PAGE = 100;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

const best = (runs: number, f: () => number): number => Math.min(...Array.from({ length: runs }, f));
const log = (s: string): void => void process.stderr.write(s + "\n");

const result = {
  assign_release_ns: {} as Record<string, number>,
  keepalive_ns: {} as Record<string, number>,
  heap_keepalive_ns: {} as Record<string, number>,
  generate_ns: {} as Record<string, number>,
  /** One gang: AssignTokens(GANG_K) and the release of its GANG_K leases (issue 17). */
  gang_ns: {} as Record<string, number>,
  /** One ListTokens page of LIST_PAGE tokens from a random cursor (issue 17). */
  list_page_ns: {} as Record<string, number>,
  /** One random token touched in a plain Map of n ids: what cache misses alone cost at each size. */
  probe_ns: {} as Record<string, number>,
  bytes_per_token: {} as Record<string, number>,
  /** The whole process (heap after GC + array buffers) over its live leases, ids made by the core. */
  process_bytes_per_lease: {} as Record<string, number>,
  /** The same less the process's footprint before the pool existed (baseline of the same run). */
  added_bytes_per_lease: {} as Record<string, number>,
  max_advance_ms: 0,
  /** The longest call includes any garbage-collection pause that lands in it; p99 shows the rest. */
  p99_advance_ms: 0,
  advance_calls: 0,
};

// Memory first, while the heap holds nothing else of ours. Measured as the heap and array-buffer
// bytes that disappear when the pool is dropped, with the id strings kept alive throughout, so
// the ids themselves are excluded (V8 also flattens them when they become Map keys).
function usedBytes(): number {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
// What a server holds per lease, measured first (nothing else of ours on the heap yet): the core's
// own random ids (flat strings, see token-ids.ts), every token held by an owner, the whole process.
for (const n of sizes.filter((s) => s >= 1e6)) {
  const before = usedBytes();
  const core = new TokenPools();
  core.createPool("w", { maxTokens: n, idleTtlMs: 0 }, 0);
  for (let i = 0; i < n; i += 100_000) core.generate("w", { count: Math.min(100_000, n - i) }, 0);
  for (let i = 0; i < n; i++) core.assign("w", "holder", {}, 0);
  const whole = usedBytes();
  result.process_bytes_per_lease[n] = Math.round(whole / n);
  result.added_bytes_per_lease[n] = Math.round((whole - before) / n);
  const held = core.getPool("w");
  if (!held.ok || held.value.held !== n) throw new Error("unreachable: keeps the pool alive until here");
}

// Only at 10^6 and up: smaller pools are within the noise of the collector's own bookkeeping.
for (const n of sizes.filter((s) => s >= 1e6)) {
  const ids = Array.from({ length: n }, (_, i) => `tok-${i.toString(36).padStart(16, "0")}`);
  let core: TokenPools | undefined = new TokenPools();
  core.createPool("m", { maxTokens: n }, 0);
  for (let i = 0; i < n; i += 100_000) core.generate("m", { ids: ids.slice(i, i + 100_000) }, 0);
  for (let i = 0; i < n; i++) core.assign("m", "holder", {}, 0);
  const withPool = usedBytes();
  if (core.getPool("m").ok !== true) throw new Error("unreachable: keeps the pool alive until here");
  core = undefined;
  const without = usedBytes();
  result.bytes_per_token[n] = Math.round((withPool - without) / n);
  if (ids.length !== n) throw new Error("unreachable: keeps the ids alive until here");
}

for (const n of sizes) {
  log(`n=${n}: building pool…`);
  const f = fixture(n);
  assignRelease(f, 20_000); // warm up
  result.assign_release_ns[n] = Math.round(best(3, () => assignRelease(f, OPS)));
  result.keepalive_ns[n] = Math.round(best(3, () => assignKeepAliveRelease(f, OPS)));
  assignManyRelease(f, 5_000, GANG_K);
  result.gang_ns[n] = Math.round(best(3, () => assignManyRelease(f, OPS / GANG_K, GANG_K)));
  listPage(f, 2_000, LIST_PAGE);
  result.list_page_ns[n] = Math.round(best(3, () => listPage(f, OPS / LIST_PAGE, LIST_PAGE)));
  const probe = probeFixture(n);
  randomProbe(probe, 20_000);
  result.probe_ns[n] = Math.round(best(3, () => randomProbe(probe, OPS)) * 10) / 10;
  if (n >= 1e5) {
    // The same core and workload with the expiry queue swapped for the binary heap.
    const h = fixture(n, heapTimers);
    assignKeepAliveRelease(h, 20_000);
    result.heap_keepalive_ns[n] = Math.round(best(3, () => assignKeepAliveRelease(h, OPS)));
  }

  const gen = new TokenPools();
  gen.createPool("g", { maxTokens: n }, 0);
  const start = process.hrtime.bigint();
  for (let done = 0; done < n; done += 100_000) gen.generate("g", { count: Math.min(100_000, n - done) }, 0);
  result.generate_ns[n] = Math.round(Number(process.hrtime.bigint() - start) / n);
}

{
  log(`expiring 10^6 co-due leases in batches of ${DEFAULT_EXPIRY_BATCH} (the expiry driver's batch)…`);
  const n = 1e6;
  const core = new TokenPools({ startMs: 0 });
  core.createPool("e", { leaseTtlMs: 1000, idleTtlMs: 0, maxTokens: n }, 0);
  for (let done = 0; done < n; done += 100_000) core.generate("e", { count: 100_000 }, 0);
  for (let i = 0; i < n; i++) core.assign("e", "o", {}, 0);
  const durations: number[] = [];
  let expired = 0;
  for (;;) {
    const t = process.hrtime.bigint();
    const r = core.advance(1000, DEFAULT_EXPIRY_BATCH);
    durations.push(Number(process.hrtime.bigint() - t) / 1e6);
    expired += r.processed;
    if (!r.more) break;
  }
  durations.sort((a, b) => a - b);
  const max = durations[durations.length - 1]!;
  result.p99_advance_ms = Math.round(durations[Math.floor(durations.length * 0.99)]! * 100) / 100;
  result.advance_calls = durations.length;
  const stats = core.getPool("e");
  if (!stats.ok || stats.value.held !== 0) throw new Error(`expiry incomplete (${expired} processed)`);
  result.max_advance_ms = Math.round(max * 100) / 100;
}

const rows = sizes.map((n) =>
  [
    String(n).padStart(9),
    String(result.assign_release_ns[n]).padStart(12),
    String(result.keepalive_ns[n]).padStart(14),
    String(result.heap_keepalive_ns[n] ?? "-").padStart(14),
    String(result.generate_ns[n]).padStart(10),
    String(result.bytes_per_token[n] ?? "-").padStart(10),
  ].join(" "),
);
console.log(`${"n".padStart(9)} ${"assign+rel".padStart(12)} ${"+keepAlive".padStart(14)} ${"heap +keepAl.".padStart(14)} ${"generate".padStart(10)} ${"B/token".padStart(10)}`);
console.log("          (ns/op)      (ns/op)        (ns/op)        (ns/tok)");
for (const r of rows) console.log(r);
console.log(
  `advance() while expiring 10^6 co-due leases in ${result.advance_calls} calls of ${DEFAULT_EXPIRY_BATCH}: ` +
    `max ${result.max_advance_ms} ms, p99 ${result.p99_advance_ms} ms`,
);
const flat = result.assign_release_ns[1e5]! / result.assign_release_ns[1e3]!;
const wheelVsHeap = [1e5, 1e6].map((n) => result.keepalive_ns[n]! / result.heap_keepalive_ns[n]!);
console.log(
  `targets: flat ${flat.toFixed(2)} (<= 1.5), wheel/heap ${wheelVsHeap.map((x) => x.toFixed(2)).join(", ")} (<= 0.8), ` +
    `bytes ${result.bytes_per_token[1e6]} (<= 100), max advance ${result.max_advance_ms} ms (<= 10), ` +
    `process bytes per live lease ${result.process_bytes_per_lease[1e6]} (<= 150; +${result.added_bytes_per_lease[1e6]} over the empty process)`,
);
console.log(`${"n".padStart(9)} ${`gang of ${GANG_K}`.padStart(12)} ${`list ${LIST_PAGE}`.padStart(14)} ${"Map probe".padStart(10)}`);
console.log("          (ns/gang)    (ns/page)  (ns/token)");
for (const n of sizes) {
  console.log(`${String(n).padStart(9)} ${String(result.gang_ns[n]).padStart(12)} ${String(result.list_page_ns[n]).padStart(14)} ${String(result.probe_ns[n]).padStart(10)}`);
}
const gangFlat = result.gang_ns[1e6]! / result.gang_ns[1e3]!;
const listFlat = result.list_page_ns[1e6]! / result.list_page_ns[1e3]!;
// The same ratio for one random Map lookup: the part of the growth no O(1) structure in JS escapes.
const probeFlat = result.probe_ns[1e6]! / result.probe_ns[1e3]!;
console.log(
  `targets: AssignTokens(${GANG_K}) 10^6/10^3 ${gangFlat.toFixed(2)} (<= 1.5), ListTokens(${LIST_PAGE}) 10^6/10^3 ${listFlat.toFixed(2)} (<= 1.5); ` +
    `a random Map lookup grows ${probeFlat.toFixed(2)}x over the same sizes, so relative to it: ` +
    `AssignTokens ${(gangFlat / probeFlat).toFixed(2)}, ListTokens ${(listFlat / probeFlat).toFixed(2)}`,
);
console.log(JSON.stringify(result));
