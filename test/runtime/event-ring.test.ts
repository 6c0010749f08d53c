import { describe, expect, it } from "vitest";
import type { LeaseEvent, LeaseEventType } from "../../src/core/types.js";
import { EventRing } from "../../src/runtime/event-ring.js";

const TYPES: LeaseEventType[] = ["GENERATED", "ASSIGNED", "RENEWED", "RELEASED", "LEASE_EXPIRED", "IDLE_EXPIRED", "DELETED", "WAITER_TIMED_OUT", "TOKEN_CORDONED", "TOKEN_UNCORDONED"];

function event(sequence: number, rnd: () => number): LeaseEvent {
  const maybe = (n: number): number | undefined => (rnd() < 0.3 ? undefined : n);
  return {
    sequence,
    type: TYPES[Math.floor(rnd() * TYPES.length)]!,
    pool: "p",
    token: `t-${Math.floor(rnd() * 1000)}`,
    owner: rnd() < 0.5 ? "" : `owner-${sequence}`,
    generation: Math.floor(rnd() * 2 ** 53),
    time: 1_700_000_000_000 + sequence,
    expireTime: maybe(1_700_000_060_000 + sequence),
    idleExpireTime: maybe(1_700_000_300_000 + sequence),
    waiterId: maybe(sequence * 7),
  };
}

/** A small deterministic generator, so a failure repeats. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

describe("EventRing (columns)", () => {
  it("gives back exactly the last `capacity` events after any sequence, as they were pushed, across growth and wrap-around", () => {
    for (const capacity of [1, 2, 63, 64, 65, 129, 300]) {
      const rnd = lcg(capacity);
      const ring = new EventRing("p", capacity);
      const pushed: LeaseEvent[] = [];
      expect(ring.oldest()).toBeUndefined();
      expect(ring.since(0)).toEqual([]);
      for (let n = 1; n <= capacity * 3 + 5; n++) {
        const e = event(n, rnd);
        ring.push(e);
        pushed.push(e);
        const kept = pushed.slice(-capacity);
        expect(ring.oldest()).toBe(kept[0]!.sequence);
        const after = Math.floor(rnd() * (n + 2)) - 1;
        expect(ring.since(after)).toEqual(kept.filter((k) => k.sequence > after));
      }
    }
  });
});
