// Measures lmdb recovery: open-to-serving time for a data dir of 10^6 tokens, half of them leased.
// Usage: node --import tsx bench/store/bench-recovery.ts [--tokens 1000000] [--runs 3]

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import type { LocalStore } from "../../src/store/local-store.js";
import { DATA_FILE } from "../../src/store/lmdb/lmdb-env.js";
import { openLmdbStore } from "../../src/store/lmdb/lmdb-store.js";

const { values } = parseArgs({ options: { tokens: { type: "string", default: "1000000" }, runs: { type: "string", default: "3" } } });
const TOKENS = Number(values.tokens);
const RUNS = Number(values.runs);
const CHUNK = 100_000;

const dir = mkdtempSync(join(tmpdir(), "tokenpool-recovery-"));
const open = (level = "silent"): LocalStore =>
  openLmdbStore({
    dataDir: dir,
    restartGraceMs: 15_000,
    clock: systemClock,
    log: createLogger(level),
    events: { ringSize: 1000, subscriberBuffer: 1000 },
  });

function must<T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

try {
  const buildStart = performance.now();
  const store = open();
  must(await store.createPool("big", { leaseTtlMs: 3_600_000, idleTtlMs: 0, maxTokens: TOKENS }, 0));
  for (let made = 0; made < TOKENS; made += CHUNK) must(await store.generate("big", { count: Math.min(CHUNK, TOKENS - made) }));
  // Half the tokens leased, with request ids, so recovery rebuilds leases, idempotency keys and timers.
  for (let leased = 0; leased < TOKENS / 2; leased += 10_000) {
    const batch = Array.from({ length: Math.min(10_000, TOKENS / 2 - leased) }, (_, i) =>
      store.assign("big", `owner-${(leased + i) % 997}`, { requestId: `req-${leased + i}` }),
    );
    for (const r of await Promise.all(batch)) must(r);
  }
  await store.close();
  const buildMs = performance.now() - buildStart;
  const bytes = statSync(join(dir, DATA_FILE)).size;

  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    // The first run logs at info level, showing the progress lines an operator sees.
    const reopened = open(run === 0 ? "info" : "silent");
    const ms = performance.now() - t0;
    const pool = must(await reopened.getPool("big"));
    if (pool.total !== TOKENS || pool.held !== TOKENS / 2) throw new Error(`recovered ${pool.total} tokens, ${pool.held} held`);
    await reopened.close();
    times.push(ms);
  }
  const best = Math.min(...times);
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  console.log("");
  console.log(`tokens      ${TOKENS} (${TOKENS / 2} leased)`);
  console.log(`data file   ${(bytes / 1e6).toFixed(1)} MB`);
  console.log(`build       ${(buildMs / 1000).toFixed(1)} s (through the store, group-committed)`);
  console.log(`recovery    ${times.map((t) => (t / 1000).toFixed(2) + " s").join(", ")} (best ${(best / 1000).toFixed(2)} s)`);
  console.log(`machine     ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`);
  console.log(JSON.stringify({ bench: "lmdb-recovery", tokens: TOKENS, leased: TOKENS / 2, fileBytes: bytes, recoveryMs: times.map(Math.round), bestMs: Math.round(best), medianMs: Math.round(median) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
