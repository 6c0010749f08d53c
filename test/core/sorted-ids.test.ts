// SortedIds against a sorted array: any mix of inserts and deletes keeps the same order, and paging
// from any cursor (present or not) visits exactly the ids after it.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SortedIds } from "../../src/core/sorted-ids.js";

function after(ids: SortedIds, cursor: string | undefined, limit: number): { seen: string[]; more: boolean } {
  const seen: string[] = [];
  const more = ids.forEachAfter(cursor, (id) => {
    seen.push(id);
    return seen.length < limit;
  });
  return { seen, more };
}

describe("SortedIds", () => {
  it("matches a sorted array under inserts, deletes and paging from any cursor", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("insert" as const), id: fc.string({ minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant("delete" as const), id: fc.string({ minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant("page" as const), id: fc.option(fc.string({ maxLength: 3 }), { nil: undefined }), limit: fc.integer({ min: 1, max: 700 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 0, max: 1500 }), (ops, bulk) => {
        // Slots as the token table gives them: each holds one id, and is never reused here.
        const idOfSlot: string[] = [];
        const ids = new SortedIds((slot) => idOfSlot[slot]!);
        const insert = (id: string): void => {
          idOfSlot.push(id);
          ids.insert(idOfSlot.length - 1);
        };
        const model: string[] = [];
        // A bulk load first, so blocks split (more than one block of 512).
        for (let i = 0; i < bulk; i++) {
          const id = `b${(i * 7919) % 1501}`;
          if (model.includes(id)) continue;
          insert(id);
          model.push(id);
        }
        model.sort();
        for (const o of ops) {
          if (o.kind === "insert") {
            if (model.includes(o.id)) continue;
            insert(o.id);
            model.push(o.id);
            model.sort();
          } else if (o.kind === "delete") {
            const i = model.indexOf(o.id);
            expect(ids.delete(o.id)).toBe(i >= 0);
            if (i >= 0) model.splice(i, 1);
          } else {
            const expected = model.filter((id) => o.id === undefined || id > o.id);
            const { seen, more } = after(ids, o.id, o.limit);
            expect(seen).toEqual(expected.slice(0, o.limit));
            expect(more).toBe(expected.length > o.limit);
          }
          expect(ids.size).toBe(model.length);
        }
        expect(after(ids, undefined, Infinity).seen).toEqual(model);
        // Each id is visited with the slot that holds it.
        ids.forEachAfter(undefined, (id, slot) => (expect(idOfSlot[slot]).toBe(id), true));
      }),
      { numRuns: 60 },
    );
  });

  it("splits a full block correctly whichever position the new id takes", () => {
    const FULL = 512;
    const key = (n: number): string => `k${String(n).padStart(5, "0")}`;
    for (let p = 0; p <= FULL; p++) {
      const idOfSlot: string[] = [];
      const ids = new SortedIds((slot) => idOfSlot[slot]!);
      // Even numbers fill one block exactly; the odd one lands between the (p-1)th and the pth.
      for (let i = 0; i < FULL; i++) ids.insert(idOfSlot.push(key(2 * i)) - 1);
      ids.insert(idOfSlot.push(key(2 * p - 1)) - 1);
      const expected = [...idOfSlot].sort();
      expect(after(ids, undefined, Infinity).seen).toEqual(expected);
      // And the halves keep taking inserts and deletes at their ends.
      ids.insert(idOfSlot.push(key(2 * FULL + 1)) - 1);
      expect(ids.delete(key(0))).toBe(true);
      expect(after(ids, undefined, Infinity).seen).toEqual([...idOfSlot].sort().filter((id) => id !== key(0)));
    }
  });
});
