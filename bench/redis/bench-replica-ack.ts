// What --redis-min-replicas-ack costs (`npm run bench:redis-ack`, A B B A rounds): assign+release pairs
// per second of the RedisStore called in-process on a primary with one replica, WAIT off against
// WAIT for 1 replica after each mutating script, same primary, same run.

import { cpus, loadavg } from "node:os";
import { createLogger } from "../../src/runtime/logger.js";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import { installCleanup } from "../../test/harness/processes.js";
import { startSentinelSet } from "../../test/harness/redis-sentinel.js";
import { measure } from "./measure.js";

const CONCURRENCY = 64;
const WINDOW = { concurrency: CONCURRENCY, warmupMs: 3000, measureMs: 6000 };
const TOKENS = 1000;
const RING = 10_000;
const log = (s: string): void => void process.stderr.write(s + "\n");

installCleanup();
const load = loadavg()[0]!;
const set = await startSentinelSet({ replicas: 1, sentinels: 1 });
let round = 0;
async function pairs(minReplicas: number): Promise<number> {
  const store = await RedisStore.open({
    url: "redis://127.0.0.1:1", // Sentinel names the primary
    topology: { kind: "sentinel", sentinels: set.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })), masterName: set.masterName },
    replicaAck: { minReplicas, timeoutMs: 1000 },
    eventRingSize: RING,
    watchBuffer: RING,
    log: createLogger("silent"),
  });
  try {
    const pool = `ack-${++round}`;
    const created = await store.createPool(pool, { leaseTtlMs: 60_000, maxTokens: TOKENS }, TOKENS);
    if (!created.ok) throw new Error(JSON.stringify(created.error));
    return await measure(WINDOW, async (w) => {
      const a = await store.assign(pool, `w${w}`, {});
      if (!a.ok) throw new Error(JSON.stringify(a.error));
      const r = await store.release(pool, a.value.lease.token, { generation: a.value.lease.generation });
      if (!r.ok) throw new Error(JSON.stringify(r.error));
    });
  } finally {
    await store.close();
  }
}
try {
  const off: number[] = [];
  const on: number[] = [];
  for (const ack of [0, 1, 1, 0]) {
    log(`WAIT ${ack === 0 ? "off" : "for 1 replica"}…`);
    (ack === 0 ? off : on).push(await pairs(ack));
  }
  const mean = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  const [a, b] = [mean(off), mean(on)];
  console.log(`${"what".padEnd(36)} ${"pairs/s".padStart(8)} ${"vs off".padStart(7)}  rounds`);
  console.log(`${"WAIT off (default)".padEnd(36)} ${String(a).padStart(8)} ${"1.00".padStart(7)}  ${off.join(" / ")}`);
  console.log(`${"--redis-min-replicas-ack 1".padEnd(36)} ${String(b).padStart(8)} ${(b / a).toFixed(2).padStart(7)}  ${on.join(" / ")}`);
  console.log(
    `(RedisStore in-process through Sentinel, primary + 1 replica on 127.0.0.1; ${CONCURRENCY} callers; ${cpus().length} CPUs shared, ` +
      `load average ${load.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at the end)`,
  );
  console.log(JSON.stringify({ wait_off_pairs_per_s: a, wait_1_pairs_per_s: b, ratio: Math.round((1000 * b) / a) / 1000, off, on, cpus: cpus().length }));
} finally {
  await set.stop();
}
