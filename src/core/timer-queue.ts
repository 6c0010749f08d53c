// What the core needs from an expiry queue. The timer wheel is the implementation; the interface
// exists so the benchmark can run the same core on a binary-heap baseline.

export interface TimerQueue {
  readonly size: number;
  ensureCapacity(capacity: number): void;
  /** Fire node `id` once the clock reaches `atMs` (never earlier); replaces any earlier schedule. */
  schedule(id: number, atMs: number): void;
  cancel(id: number): void;
  /** Earliest time anything may be due (a lower bound is fine); undefined when empty. */
  nextDeadline(): number | undefined;
  /** Fire due nodes, at most `budget` units of work; `more` when due work remains. */
  advance(nowMs: number, budget: number, fire: (id: number) => void): { processed: number; more: boolean };
}

/** Builds a queue; `dueOf(id)` reports a scheduled node's current deadline in ms. */
export type TimerQueueFactory = (startMs: number, tickMs: number, dueOf: (id: number) => number) => TimerQueue;
