// A clock that moves only when a test says so: wall and monotonic time advance together, timers and
// deferred calls fire in deadline order as time passes, and nothing ever waits for real time.

import type { Clock, Timer } from "../../src/runtime/clock.js";

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private wall: number;
  private mono = 0;
  private seq = 0;
  private timers: Pending[] = [];
  private deferred: (() => void)[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.wall = startMs;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }

  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** Timers not yet fired or cancelled, plus deferred calls not yet run. */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length + this.deferred.length;
  }

  /** Moves time without running anything (the cost of work done in between, as a test models it). */
  spend(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }

  /**
   * Moves time forward by `ms`, running deferred calls and every timer that falls due on the way, in
   * deadline order, each at its own deadline; what they schedule for within the span runs too.
   * Returns how many callbacks ran.
   */
  advance(ms: number): number {
    const end = this.mono + ms;
    let ran = 0;
    for (;;) {
      if (ran > 1_000_000) throw new Error("ManualClock.advance: callbacks keep scheduling each other");
      const d = this.deferred.shift();
      if (d) {
        d();
        ran++;
        continue;
      }
      this.timers = this.timers.filter((t) => !t.cancelled);
      const next = this.timers.reduce<Pending | undefined>((a, t) => (!a || t.at < a.at || (t.at === a.at && t.seq < a.seq) ? t : a), undefined);
      if (!next || next.at > end) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.spend(Math.max(0, next.at - this.mono));
      next.fn();
      ran++;
    }
    this.spend(end - this.mono);
    return ran;
  }
}
