// Core workloads shared by the benchmark and the complexity test: a pool of n tokens, half of them
// held on long leases, and timed loops of the operations clients run most. The loops run the way the
// service does: a simulated clock moves 1 ms per iteration, every event goes to a sink, and expiry
// is advanced every millisecond, so a queue pays for the work its keep-alives leave behind.

import { TokenPools } from "../../src/core/token-pools.js";
import type { TimerQueueFactory } from "../../src/core/timer-queue.js";
import { HeapTimerQueue } from "./heap-baseline.js";

const T0 = 1_700_000_000_000;
/** Pool lease TTL; the loops' own leases run at this. */
const TTL = 60_000;
/** Long enough that no token of the fixture goes idle during a run. */
const IDLE = 3_600_000;
const EXPIRY_BATCH = 4_096;

export interface Fixture {
  readonly core: TokenPools;
  now: number;
  events: number;
}

/** The binary-heap expiry queue, to run the same core on the naive baseline. */
export const heapTimers: TimerQueueFactory = () => new HeapTimerQueue();

/** A pool of n tokens with half of them held, so both the free list and the expiry queue are populated. */
export function fixture(n: number, timers?: TimerQueueFactory): Fixture {
  const f: Fixture = { core: undefined as unknown as TokenPools, now: T0, events: 0 };
  const core = new TokenPools({ startMs: T0, onEvent: () => void f.events++, ...(timers && { timers }) });
  (f as { core: TokenPools }).core = core;
  core.createPool("bench", { leaseTtlMs: TTL, idleTtlMs: IDLE, maxTokens: Math.max(n, 1) }, T0);
  for (let done = 0; done < n; done += 100_000) core.generate("bench", { count: Math.min(100_000, n - done) }, T0);
  // Held for the whole run: they keep the queue populated without expiring under the measurement.
  for (let i = 0; i < n / 2; i++) core.assign("bench", "holder", { leaseTtlMs: IDLE - 1 }, T0);
  return f;
}

function leasedToken(core: TokenPools, now: number): string {
  const r = core.assign("bench", "bench", {}, now);
  if (!r.ok || r.value.kind !== "leased") throw new Error("benchmark pool exhausted");
  return r.value.lease.token;
}

function tick(f: Fixture): void {
  f.now += 1;
  while (f.core.advance(f.now, EXPIRY_BATCH).more);
}

/** ns per assign+release pair (expiry work included). */
export function assignRelease(f: Fixture, ops: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    tick(f);
    const token = leasedToken(f.core, f.now);
    f.core.release("bench", token, {}, f.now);
  }
  return Number(process.hrtime.bigint() - start) / ops;
}

/** ns per assign+keepAlive+release triple (expiry work included). */
export function assignKeepAliveRelease(f: Fixture, ops: number): number {
  const batch: string[] = [""];
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    tick(f);
    const token = leasedToken(f.core, f.now);
    batch[0] = token;
    f.core.keepAlive("bench", batch, f.now);
    f.core.release("bench", token, {}, f.now);
  }
  return Number(process.hrtime.bigint() - start) / ops;
}

/** ns per gang of k: assignMany(k) then the release of its k leases (expiry work included). */
export function assignManyRelease(f: Fixture, ops: number, k: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    tick(f);
    const r = f.core.assignMany("bench", "bench", k, 10_000, {}, f.now);
    if (!r.ok || r.value.kind !== "leased") throw new Error("benchmark pool exhausted");
    for (const lease of r.value.leases) f.core.release("bench", lease.token, {}, f.now);
  }
  return Number(process.hrtime.bigint() - start) / ops;
}

const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** ns per ListTokens page of `page` tokens, each from a random cursor (a seek anywhere in the pool). */
export function listPage(f: Fixture, ops: number, page: number): number {
  const cursors = Array.from({ length: 1024 }, () => Array.from({ length: 22 }, () => ID_CHARS[Math.floor(Math.random() * 64)]).join(""));
  let listed = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const r = f.core.listTokens("bench", {}, cursors[i & 1023], page);
    if (r.ok) listed += r.value.tokens.length;
  }
  const ns = Number(process.hrtime.bigint() - start) / ops;
  if (listed === 0) throw new Error("listed nothing");
  return ns;
}

/**
 * The memory-hierarchy baseline for the flatness ratios: a plain `Map` of n random 40-character ids
 * to small records, the least any pool implementation touches per token. Its own 10^6/10^3 ratio is
 * what cache misses alone cost on this machine, measured in the same run as the core's rows.
 */
export interface ProbeFixture {
  readonly ids: readonly string[];
  readonly records: Map<string, { generation: number; touchedAt: number }>;
}

export function probeFixture(n: number): ProbeFixture {
  const ids = Array.from({ length: n }, () => String.fromCharCode(...Array.from({ length: 40 }, () => ID_CHARS.charCodeAt(Math.floor(Math.random() * 64)))));
  return { ids, records: new Map(ids.map((id, i) => [id, { generation: i, touchedAt: 0 }])) };
}

/** ns per token touched at random: pick an id, find its record, read one field and write another. */
export function randomProbe(p: ProbeFixture, ops: number): number {
  const n = p.ids.length;
  let x = 0x9e3779b9;
  let sum = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const record = p.records.get(p.ids[(x >>> 0) % n]!)!;
    sum += record.generation;
    record.touchedAt = i;
  }
  const ns = Number(process.hrtime.bigint() - start) / ops;
  if (sum < 0) throw new Error("unreachable: keeps the reads");
  return ns;
}
