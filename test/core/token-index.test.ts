// The pool's id → slot index against a Map model: random sets and deletes (long probe runs, growth,
// shrinking, backward-shift deletion across the table's end), then every id looked up.

import { describe, expect, it } from "vitest";
import { TokenIndex } from "../../src/core/token-index.js";

/** A tiny deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe("TokenIndex", () => {
  it("agrees with a Map through 200 000 random sets and deletes", () => {
    for (const seed of [1, 2, 3]) {
      const rand = prng(seed);
      const ids: string[] = []; // slot → id, as the slab keeps them
      const index = new TokenIndex((slot) => ids[slot]!, seed);
      const model = new Map<string, number>();
      const live: string[] = [];
      for (let op = 0; op < 200_000; op++) {
        // Phases that grow the table, then shrink it, then churn.
        const phase = Math.floor(op / 50_000);
        const pSet = phase === 0 ? 0.8 : phase === 1 ? 0.2 : 0.5;
        if (live.length === 0 || rand() < pSet) {
          const id = `t${Math.floor(rand() * 1e9).toString(36)}`;
          if (model.has(id)) continue;
          const slot = ids.length;
          ids.push(id);
          index.set(id, slot);
          model.set(id, slot);
          live.push(id);
        } else {
          const i = Math.floor(rand() * live.length);
          const id = live[i]!;
          live[i] = live[live.length - 1]!;
          live.pop();
          expect(index.delete(id)).toBe(true);
          model.delete(id);
        }
        if (op % 10_000 === 0) {
          let wrong = 0;
          for (const [id, slot] of model) if (index.get(id) !== slot) wrong++;
          expect(wrong, `op ${op}`).toBe(0);
        }
      }
      expect(index.size).toBe(model.size);
      expect([...model].filter(([id, slot]) => index.get(id) !== slot)).toEqual([]);
      expect(new Set(index.values())).toEqual(new Set(model.values()));
      expect(index.has("never-set")).toBe(false);
      expect(index.delete("never-set")).toBe(false);
    }
  });

  it("keeps finding ids that all share one home bucket, through deletes at any position", () => {
    // A constant hash cannot be injected, so take ids whose hash lands in the same bucket of a 16-bucket table.
    const ids: string[] = [];
    const probe = new TokenIndex((slot) => ids[slot]!, 7);
    const bucketOf = (id: string): number => {
      ids[0] = id;
      probe.set(id, 0);
      // @ts-expect-error reading the private table to find where the id went
      const pos = (probe.table as Int32Array).indexOf(1);
      probe.delete(id);
      return pos;
    };
    const same: string[] = [];
    for (let i = 0; same.length < 7; i++) if (bucketOf(`c${i}`) === 3) same.push(`c${i}`);
    ids.length = 0;
    const index = new TokenIndex((slot) => ids[slot]!, 7);
    same.forEach((id, slot) => (ids.push(id), index.set(id, slot)));
    for (const victim of [same[0]!, same[3]!, same[6]!]) {
      expect(index.delete(victim)).toBe(true);
      for (const id of same) expect(index.get(id)).toBe(id === victim || !index.has(id) ? undefined : ids.indexOf(id));
    }
    expect(index.size).toBe(4);
    expect([same[1], same[2], same[4], same[5]].map((id) => index.get(id!))).toEqual([1, 2, 4, 5]);
  });
});
