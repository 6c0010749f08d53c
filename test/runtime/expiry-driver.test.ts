// The expiry driver on a manual clock: it sleeps until the next deadline, asks the wheel at exactly
// that time, re-arms for earlier deadlines, yields between time slices of batches, stops for good,
// and, under a real memory store, ends a lease at its deadline and not a millisecond before. No real
// time passes in this file.

import { describe, expect, it } from "vitest";
import { ExpiryDriver, type Expirable } from "../../src/runtime/expiry-driver.js";
import { LocalStore } from "../../src/store/local-store.js";
import { ManualClock } from "../harness/manual-clock.js";

/** A wheel of bare deadlines that records every question the driver asks it. */
class FakeWheel implements Expirable {
  readonly asked: { now: number; max: number; processed: number }[] = [];
  /** Monotonic time each batch costs (to make the driver's time slice run out). */
  costPerBatchMs = 0;

  constructor(
    private readonly clock: ManualClock,
    private deadlines: number[] = [],
  ) {}

  add(...at: number[]): void {
    this.deadlines.push(...at);
  }

  left(): number {
    return this.deadlines.length;
  }

  nextDeadline(): number | undefined {
    return this.deadlines.length === 0 ? undefined : Math.min(...this.deadlines);
  }

  advance(now: number, max: number): { processed: number; more: boolean } {
    const due = this.deadlines.filter((d) => d <= now).sort((a, b) => a - b).slice(0, max);
    for (const d of due) this.deadlines.splice(this.deadlines.indexOf(d), 1);
    this.clock.spend(this.costPerBatchMs);
    this.asked.push({ now, max, processed: due.length });
    return { processed: due.length, more: this.deadlines.some((d) => d <= now) };
  }
}

function setup(batchSize = 4096) {
  const clock = new ManualClock();
  const wheel = new FakeWheel(clock);
  let batches = 0;
  const driver = new ExpiryDriver(wheel, clock, { batchSize, afterBatch: () => batches++ });
  return { clock, wheel, driver, batches: () => batches, t0: clock.now() };
}

describe("expiry driver on a manual clock", () => {
  it("asks the wheel at the deadline, not before, and sleeps again when nothing is left", () => {
    const { clock, wheel, driver, batches, t0 } = setup();
    wheel.add(t0 + 1000);
    driver.poke();
    clock.advance(999);
    expect(wheel.asked).toEqual([]);
    clock.advance(1);
    expect(wheel.asked).toEqual([{ now: t0 + 1000, max: 4096, processed: 1 }]);
    expect(batches()).toBe(1);
    expect(clock.pending()).toBe(0);
  });

  it("re-arms for an earlier deadline and keeps one timer", () => {
    const { clock, wheel, driver, t0 } = setup();
    wheel.add(t0 + 5000);
    driver.poke();
    wheel.add(t0 + 200);
    driver.poke();
    expect(clock.pending()).toBe(1);
    // A later deadline changes nothing.
    wheel.add(t0 + 9000);
    driver.poke();
    expect(clock.pending()).toBe(1);
    clock.advance(200);
    expect(wheel.asked.map((a) => a.now - t0)).toEqual([200]);
    clock.advance(4800);
    expect(wheel.asked.map((a) => a.now - t0)).toEqual([200, 5000]);
    clock.advance(4000);
    expect(wheel.asked.map((a) => a.now - t0)).toEqual([200, 5000, 9000]);
    expect(wheel.left()).toBe(0);
  });

  it("reaches a deadline hours away through capped sleeps", () => {
    const { clock, wheel, driver, t0 } = setup();
    const hours3 = 3 * 3600_000;
    wheel.add(t0 + hours3);
    driver.poke();
    clock.advance(hours3 - 1);
    expect(wheel.asked.every((a) => a.processed === 0)).toBe(true);
    expect(wheel.left()).toBe(1);
    clock.advance(1);
    expect(wheel.asked.at(-1)).toEqual({ now: t0 + hours3, max: 4096, processed: 1 });
  });

  it("runs batches back to back within a time slice, then yields and carries on", () => {
    const { clock, wheel, driver, batches, t0 } = setup(10);
    wheel.add(...Array.from({ length: 100 }, () => t0 + 50));
    wheel.costPerBatchMs = 4; // the 10 ms slice holds three batches
    let yields = 0;
    const defer = clock.defer.bind(clock);
    clock.defer = (fn) => {
      yields++;
      defer(fn);
    };
    driver.poke();
    clock.advance(50);
    expect(wheel.left()).toBe(0);
    expect(batches()).toBe(10);
    expect(wheel.asked.every((a) => a.max === 10)).toBe(true);
    // 10 batches, 3 per slice: the driver let I/O in three times (after batches 3, 6 and 9).
    expect(yields).toBe(3);
  });

  it("does nothing once stopped", () => {
    const { clock, wheel, driver, t0 } = setup();
    wheel.add(t0 + 10);
    driver.poke();
    driver.stop();
    expect(clock.pending()).toBe(0);
    driver.poke();
    clock.advance(1000);
    expect(wheel.asked).toEqual([]);
  });
});

describe("a memory store's leases on a manual clock", () => {
  it("end at their deadline, and not a millisecond before", async () => {
    const clock = new ManualClock();
    const store = new LocalStore({ kind: "memory", clock, events: { ringSize: 100, subscriberBuffer: 100 } });
    try {
      expect((await store.createPool("p", { maxTokens: 10, leaseTtlMs: 1000, idleTtlMs: 0 }, 0)).ok).toBe(true);
      expect((await store.generate("p", { ids: ["t"] })).ok).toBe(true);
      const assigned = await store.assign("p", "o", {});
      expect(assigned.ok && assigned.value.lease.expireTime).toBe(clock.now() + 1000);
      const state = async (): Promise<string | undefined> => {
        const r = await store.getToken("p", "t");
        return r.ok ? r.value.state : undefined;
      };
      clock.advance(999);
      expect(await state()).toBe("held");
      clock.advance(1);
      expect(await state()).toBe("free");
    } finally {
      await store.close();
    }
  });
});
