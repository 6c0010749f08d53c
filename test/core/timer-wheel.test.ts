// The timer wheel against a plain-array model: random schedule / postpone / cancel / advance, with
// near and far deadlines across every level, budgets that stop mid-slot, big time jumps, coarse
// ticks, and postponed nodes re-armed by their owner when they fire early (as the core does).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimerWheel } from "../../src/core/timer-wheel.js";

type Cmd =
  | { op: "schedule"; id: number; delta: number }
  | { op: "postpone"; id: number; extra: number }
  | { op: "cancel"; id: number }
  | { op: "advance"; by: number; budget: number; driver: boolean };

const deltas = fc.oneof(
  fc.integer({ min: 0, max: 70 }), // level 0 and its edge
  fc.integer({ min: 0, max: 5_000 }), // level 1
  fc.integer({ min: 0, max: 300_000 }), // level 2
  fc.integer({ min: 0, max: 20_000_000 }), // level 3
  fc.integer({ min: 0, max: 6_000_000_000 }), // levels 4-5
);

const ids = fc.integer({ min: 0, max: 40 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("schedule" as const), id: ids, delta: deltas }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("postpone" as const), id: ids, extra: fc.oneof(deltas, fc.constant(Infinity)) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const), id: ids }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("advance" as const),
      by: fc.oneof(fc.integer({ min: 0, max: 100 }), deltas),
      budget: fc.oneof(fc.constant(1_000_000), fc.integer({ min: 1, max: 5 })),
      driver: fc.boolean(),
    }),
  },
);

/** Model entry: `due` is the node's real due time; `armed` where it was last (re)scheduled (<= due). */
interface Entry {
  due: number;
  armed: number;
}

function runWheel(start: number, tickMs: number, cmds: Cmd[]): void {
  const model = new Map<number, Entry>();
  const wheel = new TimerWheel(start, (id) => model.get(id)!.due, tickMs);
  wheel.ensureCapacity(64);
  const tickUp = (ms: number): number => Math.ceil(ms / tickMs) * tickMs;
  let now = start;
  let lastFire = -Infinity;

  /** One advance call: checks every firing, re-arms early ones as their owner would. */
  const advanceOnce = (to: number, budget: number): boolean => {
    let fired = 0;
    const r = wheel.advance(to, budget, (id, at) => {
      fired++;
      const e = model.get(id);
      expect(e, `node ${id} fired but is not scheduled`).toBeDefined();
      expect(at).toBeLessThanOrEqual(to);
      expect(at, "fired before it was armed").toBeGreaterThanOrEqual(tickUp(e!.armed));
      expect(at, "fired after its due tick").toBeLessThanOrEqual(tickUp(e!.due));
      expect(at, "fired out of order").toBeGreaterThanOrEqual(lastFire);
      lastFire = at;
      if (at < e!.due) {
        // Fired early because it was postponed: re-arm at the real due time.
        e!.armed = e!.due;
        wheel.schedule(id, e!.due);
      } else {
        expect(at).toBe(tickUp(e!.due)); // exactly on its tick: never early, at most one tick late
        model.delete(id);
      }
    });
    expect(r.processed).toBe(fired);
    expect(r.processed).toBeLessThanOrEqual(budget);
    return r.more;
  };

  const drain = (to: number, budget: number): void => {
    for (let rounds = 0; advanceOnce(to, budget); rounds++) expect(rounds).toBeLessThan(100_000);
    for (const e of model.values()) expect(tickUp(e.due), "left a due node behind").toBeGreaterThan(Math.floor(to / tickMs) * tickMs);
  };

  for (const c of cmds) {
    if (c.op === "schedule") {
      model.set(c.id, { due: now + c.delta, armed: now + c.delta });
      wheel.schedule(c.id, now + c.delta);
    } else if (c.op === "postpone") {
      const e = model.get(c.id);
      if (!e) continue;
      e.due = e.due + c.extra;
      wheel.postpone(c.id, e.due);
      if (e.due === Infinity) {
        // Never due: the owner forgets it; the wheel drops it on cascade or it fires early once.
        wheel.cancel(c.id);
        model.delete(c.id);
      }
    } else if (c.op === "cancel") {
      wheel.cancel(c.id);
      model.delete(c.id);
    } else {
      const target = now + c.by;
      lastFire = -Infinity;
      if (c.driver) {
        // As the runtime driver does: sleep until nextDeadline, advance, repeat.
        for (let guard = 0; ; guard++) {
          expect(guard).toBeLessThan(100_000);
          const next = wheel.nextDeadline();
          if (next === undefined || next > target) break;
          now = Math.max(now, next);
          drain(now, c.budget);
        }
      }
      now = target;
      drain(now, c.budget);
    }
    expect(wheel.size).toBe(model.size);
    const next = wheel.nextDeadline();
    if (model.size === 0) expect(next).toBeUndefined();
    else expect(next!, "nextDeadline must not pass the earliest due").toBeLessThanOrEqual(Math.min(...[...model.values()].map((e) => tickUp(e.due))));
  }
}

describe("TimerWheel", () => {
  it("fires every timer on its tick, in order, under random use (1 ms ticks)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 41 }), fc.array(cmd, { maxLength: 120 }), (start, cmds) => runWheel(start, 1, cmds)),
      { numRuns: 400 },
    );
  });

  it("fires every timer within one tick after its deadline with coarse ticks", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 41 }),
        fc.constantFrom(7, 64, 1000),
        fc.array(cmd, { maxLength: 80 }),
        (start, tickMs, cmds) => runWheel(start, tickMs, cmds),
      ),
      { numRuns: 200 },
    );
  });

  it("fires a timer at its deadline and not one millisecond before", () => {
    const wheel = new TimerWheel(1_000, () => 1_000 + 65_537);
    const fired: number[] = [];
    wheel.schedule(1, 1_000 + 65_537);
    expect(wheel.advance(1_000 + 65_536, 100, (id) => fired.push(id)).processed).toBe(0);
    expect(fired).toEqual([]);
    expect(wheel.advance(1_000 + 65_537, 100, (id) => fired.push(id)).processed).toBe(1);
    expect(fired).toEqual([1]);
  });

  it("rounds fractional deadlines up, so coarse ticks are never early", () => {
    const wheel = new TimerWheel(0, () => 101, 10);
    const fired: number[] = [];
    wheel.schedule(3, 101);
    wheel.advance(109, 10, (id) => fired.push(id));
    expect(fired).toEqual([]);
    wheel.advance(110, 10, (id, at) => fired.push(id, at));
    expect(fired).toEqual([3, 110]);
  });

  it("bounds the work of one advance, cascades included, and reports more", () => {
    const wheel = new TimerWheel(0, () => 5_000_000);
    wheel.ensureCapacity(100_000);
    for (let i = 0; i < 100_000; i++) wheel.schedule(i, 5_000_000); // a level-3 slot: cascades twice
    let total = 0;
    let calls = 0;
    for (;;) {
      let fired = 0;
      const r = wheel.advance(5_000_000, 1_000, () => fired++);
      expect(r.processed).toBe(fired);
      total += fired;
      calls++;
      if (!r.more) break;
      expect(wheel.nextDeadline()).toBeLessThanOrEqual(5_000_000);
    }
    expect(total).toBe(100_000);
    // 100k firings and 200k cascade moves at 1000 units per call.
    expect(calls).toBeGreaterThanOrEqual(300);
    expect(wheel.size).toBe(0);
  });

  it("lets a fired callback reschedule the same node", () => {
    let due = 10;
    const wheel = new TimerWheel(0, () => due);
    const seen: number[] = [];
    wheel.schedule(0, due);
    wheel.advance(100, 100, (id, at) => {
      seen.push(at);
      if (seen.length < 3) wheel.schedule(id, (due = 50 * seen.length));
    });
    expect(seen).toEqual([10, 50, 100]);
    expect(wheel.size).toBe(0);
  });

  it("clamps deadlines beyond 2^53 ms instead of spinning on them", () => {
    const wheel = new TimerWheel(0, () => 1e300);
    wheel.schedule(0, 1e300);
    expect(wheel.advance(2 ** 50, 10, () => expect.unreachable())).toEqual({ processed: 0, more: false });
    expect(wheel.size).toBe(1);
    expect(wheel.nextDeadline()!).toBeGreaterThan(2 ** 50);
  });
});
