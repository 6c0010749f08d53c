// Core workloads shared by the benchmark and the complexity test: a pool of n tokens, half held, and
// timed loops of the operations clients run most.

import { TokenPools } from "../../src/core/token-pools.js";
import type { TimerQueueFactory } from "../../src/core/timer-queue.js";
import { HeapTimerQueue } from "./heap-baseline.js";

const T0 = 1_700_000_000_000;
const TTL = 60_000;

export interface Fixture {
  readonly core: TokenPools;
  now: number;
}

/** The binary-heap expiry queue, to run the same core on the naive baseline. */
export const heapTimers: TimerQueueFactory = () => new HeapTimerQueue();

/** A pool of n tokens with half of them held, so both the free list and the expiry queue are populated. */
export function fixture(n: number, timers?: TimerQueueFactory): Fixture {
  const core = new TokenPools({ startMs: T0, ...(timers && { timers }) });
  core.createPool("bench", { leaseTtlMs: TTL, idleTtlMs: 300_000, maxTokens: Math.max(n, 1) }, T0);
  for (let done = 0; done < n; done += 100_000) core.generate("bench", { count: Math.min(100_000, n - done) }, T0);
  for (let i = 0; i < n / 2; i++) core.assign("bench", "holder", {}, T0);
  return { core, now: T0 };
}

function leasedToken(core: TokenPools, now: number): string {
  const r = core.assign("bench", "bench", {}, now);
  if (!r.ok || r.value.kind !== "leased") throw new Error("benchmark pool exhausted");
  return r.value.lease.token;
}

/** ns per assign+release pair. */
export function assignRelease(f: Fixture, ops: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    f.now += 1;
    const token = leasedToken(f.core, f.now);
    f.core.release("bench", token, {}, f.now);
  }
  return Number(process.hrtime.bigint() - start) / ops;
}

/** ns per assign+keepAlive+release triple. */
export function assignKeepAliveRelease(f: Fixture, ops: number): number {
  const batch: string[] = [""];
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    f.now += 1;
    const token = leasedToken(f.core, f.now);
    batch[0] = token;
    f.core.keepAlive("bench", batch, f.now);
    f.core.release("bench", token, {}, f.now);
  }
  return Number(process.hrtime.bigint() - start) / ops;
}
