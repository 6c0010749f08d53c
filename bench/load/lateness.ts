// Expiry lateness with 10^6 live leases due at 10^4/s, from the server's own histogram, in three phases:
// moderate KeepAlive load (the target), the same plus one LEASE_EXPIRED subscriber, and a saturated server.

import { rpcPath, writeBodies } from "./bodies.js";
import { h2load, type LoadResult } from "./h2load.js";
import { bucketDelta, histogramQuantile, scrape, type Scrape } from "./metrics-scrape.js";
import { log } from "./progress.js";
import { startSeededTokenpool, type SeedMemory } from "./servers.js";
import { PoolSetup } from "./setup.js";
import { quantile } from "../../test/harness/stats.js";
import { sleep } from "../../test/harness/sleep.js";
import { watch } from "./watchers.js";

const LEASE_EXPIRED = 5;
/** KeepAlive(100) calls per second per connection in the moderate phases: 8 × 12 ≈ 100 calls/s, 10^4 renewals/s. */
const MODERATE_RATE_PER_CONNECTION = 12;

export interface LatenessOptions {
  readonly password: string;
  readonly leases: number;
  readonly ratePerSec: number;
  /** Length of each phase. */
  readonly phaseSeconds: number;
  readonly connections: number;
  readonly streams: number;
  readonly tmp: string;
  /** Store of the seeded server (default memory). */
  readonly store?: "memory" | "lmdb";
}

export interface PhaseResult {
  readonly name: string;
  /** Expiries the server observed during the phase, and their lateness quantiles (bucket-interpolated). */
  readonly expiries: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** Upper bound of the highest non-empty bucket. */
  readonly maxBucketMs: number | undefined;
  readonly loadRps: number;
  readonly loadErrors: number;
}

export interface SubscriberResult {
  readonly received: number;
  readonly expected: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Set when the server cut the subscriber off (e.g. SLOW_CONSUMER). */
  readonly endedWith: string | undefined;
}

export interface LatenessResult {
  readonly leases: number;
  /** The seeded server's whole-process memory per live lease (heap after GC). */
  readonly memory: SeedMemory | undefined;
  readonly ratePerSec: number;
  readonly seededMs: number;
  readonly moderate: PhaseResult;
  readonly withSubscriber: PhaseResult;
  readonly subscriber: SubscriberResult;
  readonly saturated: PhaseResult;
}

const sleepUntil = (t: number): Promise<void> => sleep(Math.max(0, t - Date.now()));

function phase(name: string, before: Scrape, after: Scrape, load: LoadResult): PhaseResult {
  const delta = bucketDelta(before.latenessBuckets, after.latenessBuckets);
  const count = delta.length > 0 ? delta[delta.length - 1]![1] : 0;
  const p50 = histogramQuantile(delta, 0.5);
  const p99 = histogramQuantile(delta, 0.99);
  const sorted = [...delta].sort((a, b) => a[0] - b[0]);
  let maxBucket: number | undefined;
  for (let i = 0; i < sorted.length; i++) {
    const prev = i === 0 ? 0 : sorted[i - 1]![1];
    if (sorted[i]![1] > prev) maxBucket = sorted[i]![0];
  }
  return {
    name,
    expiries: count,
    p50Ms: p50 === undefined ? undefined : p50 * 1000,
    p99Ms: p99 === undefined ? undefined : p99 * 1000,
    maxBucketMs: maxBucket === undefined ? undefined : maxBucket * 1000,
    loadRps: load.rps,
    loadErrors: load.errors + ((after.rpcErrors ?? 0) - (before.rpcErrors ?? 0)),
  };
}

export function describeMemory(leases: number, m: SeedMemory): string {
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  return (
    `memory (${m.store} store) with ${leases} live leases, heap after GC + array buffers: ${mb(m.heapBytes)} MB = ${m.bytesPerLease} B/lease ` +
    `for the whole process (${mb(m.heapBytesBefore)} MB before seeding: +${m.addedBytesPerLease} B/lease); RSS ${mb(m.rssBytes)} MB`
  );
}

function describe(p: PhaseResult): string {
  const f = (x: number | undefined): string => (x === undefined ? "–" : x.toFixed(1));
  return `${p.name}: ${p.expiries} expiries, lateness p50 ${f(p.p50Ms)} ms, p99 ${f(p.p99Ms)} ms (≤ ${f(p.maxBucketMs)} ms), load ${Math.round(p.loadRps)} KeepAlive(100)/s`;
}

export async function expiryLateness(o: LatenessOptions): Promise<LatenessResult> {
  // Seeding must finish before the first deadline; 10^6 leases take 10-15 s here.
  const budgetMs = 30_000;
  const store = o.store ?? "memory";
  log(`expiry lateness: seeding ${o.leases} leases due at ${o.ratePerSec}/s (compiled tokenpool, ${store} store)`);
  const server = await startSeededTokenpool(o.password, o.leases, o.ratePerSec, budgetMs, store);
  try {
    const { seed } = server;
    log(`  seeded in ${(seed.seededMs / 1000).toFixed(1)} s; first deadline in ${((seed.firstDeadline - Date.now()) / 1000).toFixed(1)} s`);
    if (seed.memory) log(`  ${describeMemory(seed.seeded, seed.memory)}`);
    if (seed.firstDeadline - Date.now() < 2000) throw new Error("seeding overran its budget: the first deadlines passed before the load could start");
    await new PoolSetup(server.url, o.password, 1).prepare();
    const bodies = writeBodies(o.tmp);
    const keepAlive = (seconds: number, ratePerConnection: number | undefined): Promise<LoadResult> =>
      h2load({
        url: `${server.url}${rpcPath.ka100}`,
        bodyFile: bodies.file("ka100", "grpc"),
        headers: { "content-type": "application/grpc", te: "trailers", "x-api-password": o.password },
        connections: o.connections,
        streams: o.streams,
        seconds,
        ...(ratePerConnection !== undefined && { ratePerConnection }),
      });
    const measure = async (name: string, ratePerConnection: number | undefined): Promise<PhaseResult> => {
      const before = await scrape(server.url);
      const load = await keepAlive(o.phaseSeconds, ratePerConnection);
      const after = await scrape(server.url);
      const p = phase(name, before, after, load);
      log(`  ${describe(p)}`);
      return p;
    };
    const w = o.phaseSeconds * 1000;
    const t0 = seed.firstDeadline;

    await sleepUntil(t0);
    const moderate = await measure("moderate load", MODERATE_RATE_PER_CONNECTION);

    // The subscriber joins live (after_sequence 0) as phase 1 ends; it is judged on the expiries due
    // from one second into its phase (so none was published before it subscribed) to the phase's end.
    const lateness: number[] = [];
    const windowStart = t0 + w + 1000;
    const windowEnd = t0 + 2 * w;
    const watcher = watch({
      url: server.url,
      password: o.password,
      pool: seed.pool,
      afterSequence: 0,
      types: [LEASE_EXPIRED],
      onEvent: (e) => {
        if (e.timeMs >= windowStart && e.timeMs < windowEnd) lateness.push(e.receivedMs - e.timeMs);
      },
    });
    const withSubscriber = await measure("moderate load + 1 subscriber", MODERATE_RATE_PER_CONNECTION);
    const seen = watcher.result();
    watcher.close();
    const subscriber: SubscriberResult = {
      received: lateness.length,
      expected: ((windowEnd - windowStart) / 1000) * o.ratePerSec,
      p50Ms: quantile(lateness, 0.5),
      p99Ms: quantile(lateness, 0.99),
      endedWith: seen.endedWith === undefined ? undefined : decodeURIComponent(seen.endedWith),
    };
    log(
      `  subscriber: ${subscriber.received}/${subscriber.expected} expiries received, lateness p50 ${subscriber.p50Ms} ms, p99 ${subscriber.p99Ms} ms` +
        (subscriber.endedWith ? `; cut off: ${subscriber.endedWith}` : ""),
    );

    await sleepUntil(t0 + 2 * w);
    const saturated = await measure("saturated (KeepAlive flat out)", undefined);
    return { leases: seed.seeded, memory: seed.memory, ratePerSec: seed.ratePerSec, seededMs: seed.seededMs, moderate, withSubscriber, subscriber, saturated };
  } finally {
    await server.stop();
  }
}
