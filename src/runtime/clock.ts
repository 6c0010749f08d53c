// Time, injected everywhere the runtime needs it — the wall clock, a monotonic clock for measuring
// spans, and timers — so tests can substitute a manual clock and drive time without real sleeps.

/** A pending timer. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
  /** Milliseconds from an arbitrary origin that never goes back: for measuring spans, not for dates. */
  monotonic(): number;
  /** Calls `fn` once after `ms`. A pending timer never keeps the process alive on its own. */
  setTimer(fn: () => void, ms: number): Timer;
  /** Calls `fn` on a later turn, after the I/O queued meanwhile has been let in. */
  defer(fn: () => void): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  defer(fn) {
    setImmediate(fn);
  },
};
