// The wall clock, injected everywhere the runtime needs "now" so tests can substitute their own.

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
