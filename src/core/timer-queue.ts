// What the core needs from an expiry queue. The timer wheel is the implementation; the interface
// exists so the benchmark can run the same core on a binary-heap baseline.

export interface TimerQueue {
  readonly size: number;
  ensureCapacity(capacity: number): void;
  /** Fire node `id` once the clock reaches `atMs` (never earlier); replaces any earlier schedule. */
  schedule(id: number, atMs: number): void;
  /**
   * The node's due time moved later, to `atMs` (Infinity: it no longer needs to fire). A queue may
   * leave the node where it is: it then fires early, and the owner re-arms it at its real due time.
   */
  postpone(id: number, atMs: number): void;
  cancel(id: number): void;
  /** Earliest time anything may be due (a lower bound is fine); undefined when empty. */
  nextDeadline(): number | undefined;
  /**
   * Fire due nodes in due order, doing at most `budget` units of work; `processed` counts fired
   * nodes, `more` says due work remains. `atMs` is the time the node was due at (its tick), which
   * may be before the node's current due time if that was postponed.
   */
  advance(nowMs: number, budget: number, fire: (id: number, atMs: number) => void): { processed: number; more: boolean };
}

/**
 * Builds a queue. `dueOf(id)` reports a scheduled node's current due time in ms, which is never
 * earlier than the time it was scheduled at (owners only move due times earlier through schedule()).
 */
export type TimerQueueFactory = (startMs: number, tickMs: number, dueOf: (id: number) => number) => TimerQueue;
