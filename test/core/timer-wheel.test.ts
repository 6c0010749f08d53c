// The timer wheel against a sorted-list model: random schedule / cancel / reschedule / advance,
// with near and far deadlines across every level, budgets that stop mid-slot, and big time jumps.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimerWheel } from "../../src/core/timer-wheel.js";

type Cmd =
  | { op: "schedule"; id: number; delta: number }
  | { op: "cancel"; id: number }
  | { op: "advance"; by: number; budget: number };

const deltas = fc.oneof(
  fc.integer({ min: 0, max: 300 }), // level 0 and its edge
  fc.integer({ min: 0, max: 70_000 }), // level 1
  fc.integer({ min: 0, max: 20_000_000 }), // level 2
  fc.integer({ min: 0, max: 6_000_000_000 }), // levels 3-4
);

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("schedule" as const), id: fc.integer({ min: 0, max: 40 }), delta: deltas }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const), id: fc.integer({ min: 0, max: 40 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("advance" as const),
      by: fc.oneof(fc.integer({ min: 0, max: 500 }), deltas),
      budget: fc.oneof(fc.constant(1_000_000), fc.integer({ min: 1, max: 5 })),
    }),
  },
);

/** A wheel plus the deadline table it reads back on cascades (the core keeps these in its slab). */
function wheelWithDues(startMs: number, tickMs = 1) {
  const dues = new Map<number, number>();
  const wheel = new TimerWheel(startMs, (id) => dues.get(id)!, tickMs);
  const schedule = (id: number, at: number): void => {
    dues.set(id, at);
    wheel.schedule(id, at);
  };
  return { wheel, schedule };
}

describe("TimerWheel", () => {
  it("fires every timer exactly at its deadline (never early, never late) under random use", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 41 }), fc.array(cmd, { maxLength: 120 }), (start, cmds) => {
        const { wheel, schedule } = wheelWithDues(start);
        wheel.ensureCapacity(64);
        const model = new Map<number, number>(); // id -> due ms
        let now = start;
        for (const c of cmds) {
          if (c.op === "schedule") {
            schedule(c.id, now + c.delta);
            model.set(c.id, now + c.delta);
          } else if (c.op === "cancel") {
            wheel.cancel(c.id);
            model.delete(c.id);
          } else {
            now += c.by;
            // Drain with the given budget, as the driver does: repeat while `more`.
            let rounds = 0;
            for (;;) {
              const fired: number[] = [];
              const r = wheel.advance(now, c.budget, (id) => fired.push(id));
              for (const id of fired) {
                const due = model.get(id);
                expect(due, `timer ${id} fired but was not scheduled`).toBeDefined();
                expect(due!).toBeLessThanOrEqual(now);
                model.delete(id);
              }
              expect(r.processed).toBeLessThanOrEqual(c.budget);
              if (!r.more) break;
              expect(++rounds).toBeLessThan(10_000);
            }
            // Nothing due may be left behind.
            for (const due of model.values()) expect(due).toBeGreaterThan(now);
          }
          expect(wheel.size).toBe(model.size);
          const next = wheel.nextDeadline();
          if (model.size === 0) expect(next).toBeUndefined();
          else expect(next!).toBeLessThanOrEqual(Math.min(...model.values()));
        }
      }),
      { numRuns: 400 },
    );
  });

  it("fires a timer at its deadline and not one millisecond before", () => {
    const { wheel, schedule } = wheelWithDues(1_000);
    const fired: number[] = [];
    schedule(1, 1_000 + 65_537);
    expect(wheel.advance(1_000 + 65_536, 100, (id) => fired.push(id)).processed).toBeGreaterThanOrEqual(0);
    expect(fired).toEqual([]);
    wheel.advance(1_000 + 65_537, 100, (id) => fired.push(id));
    expect(fired).toEqual([1]);
  });

  it("rounds fractional deadlines up, so coarse ticks are never early", () => {
    const { wheel, schedule } = wheelWithDues(0, 10);
    const fired: number[] = [];
    schedule(3, 101);
    wheel.advance(109, 10, (id) => fired.push(id));
    expect(fired).toEqual([]);
    wheel.advance(110, 10, (id) => fired.push(id));
    expect(fired).toEqual([3]);
  });

  it("bounds the work of one advance, cascades included, and reports more", () => {
    const { wheel, schedule } = wheelWithDues(0);
    wheel.ensureCapacity(100_000);
    for (let i = 0; i < 100_000; i++) schedule(i, 5_000_000); // a level-2 slot: needs cascading
    let total = 0;
    let calls = 0;
    for (;;) {
      let fired = 0;
      const r = wheel.advance(5_000_000, 1_000, () => fired++);
      expect(r.processed).toBeLessThanOrEqual(1_000);
      total += fired;
      calls++;
      if (!r.more) break;
    }
    expect(total).toBe(100_000);
    expect(calls).toBeGreaterThanOrEqual(100);
    expect(wheel.size).toBe(0);
  });

  it("lets a fired callback reschedule the same node", () => {
    const { wheel, schedule } = wheelWithDues(0);
    const seen: number[] = [];
    schedule(0, 10);
    wheel.advance(100, 100, (id) => {
      seen.push(id);
      if (seen.length < 3) schedule(id, 50 * seen.length);
    });
    expect(seen).toEqual([0, 0, 0]);
    expect(wheel.size).toBe(0);
  });
});
