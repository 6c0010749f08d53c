// Drives the core's timer wheel from one timer: sleeps until the next deadline, then expires due
// leases in bounded batches, yielding to the event loop between batches (etcd's lessor, inverted:
// the core decides what expires, this driver only decides when to ask). All its time comes from the
// injected clock, so a manual clock drives it in tests.

import type { Clock, Timer } from "./clock.js";

export interface Expirable {
  nextDeadline(): number | undefined;
  advance(now: number, maxEvents: number): { processed: number; more: boolean };
}

export interface ExpiryDriverOptions {
  /** Timers processed per batch before yielding to the event loop. */
  batchSize?: number;
  /** Called after each batch that processed something (e.g. to flush persistence). */
  afterBatch?: () => void;
}

/** Timers per batch: sized so one batch of cold (cache-missing) expiries stays well under 10 ms. */
export const DEFAULT_EXPIRY_BATCH = 4096;

/** Longest the driver runs batches in one event-loop turn before letting I/O in: one cold batch fits. */
const SLICE_MS = 10;

// setTimeout clamps larger delays to 1 ms; stay well below its 2^31-1 ms ceiling.
const MAX_SLEEP_MS = 60 * 60 * 1000;

export class ExpiryDriver {
  private timer: Timer | undefined;
  private armedAt = Infinity;
  private running = false;
  private stopped = false;
  private readonly batchSize: number;

  constructor(
    private readonly wheel: Expirable,
    private readonly clock: Clock,
    private readonly options: ExpiryDriverOptions = {},
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_EXPIRY_BATCH;
  }

  /** Re-arms the timer if the wheel now has an earlier deadline; O(1), call after every mutation. */
  poke(): void {
    if (this.running || this.stopped) return;
    const next = this.wheel.nextDeadline();
    if (next === undefined || next >= this.armedAt) return;
    this.arm(next);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(deadline: number): void {
    this.timer?.cancel();
    const delay = Math.min(Math.max(0, deadline - this.clock.now()), MAX_SLEEP_MS);
    this.armedAt = deadline;
    // The clock's timers never hold the process open: pending expiries alone must not delay shutdown.
    this.timer = this.clock.setTimer(() => this.run(), delay);
  }

  private run(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    if (this.stopped) return;
    this.running = true;
    // Batches back to back until a short time slice is used, not one batch per event-loop turn: under
    // request load a turn can take 100 ms or more, and one batch per turn let expiries (and the
    // cascades of a timer wheel level, up to 10^5 moves at once) fall seconds behind their deadlines.
    const sliceEnd = this.clock.monotonic() + SLICE_MS;
    let more: boolean;
    do {
      const step = this.wheel.advance(this.clock.now(), this.batchSize);
      if (step.processed > 0) this.options.afterBatch?.();
      more = step.more;
    } while (more && this.clock.monotonic() < sliceEnd);
    this.running = false;
    if (more) {
      // More is due right now: let queued I/O run first, then continue.
      this.armedAt = -Infinity;
      this.clock.defer(() => this.run());
      return;
    }
    const next = this.wheel.nextDeadline();
    if (next !== undefined) this.arm(next);
  }
}
