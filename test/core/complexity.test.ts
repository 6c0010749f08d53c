// A complexity check with generous slack: per-operation cost at 10^5 tokens stays within 4x of the
// cost at 10^3 (an accidental O(n) would be ~100x). Interleaved trials and minimums filter out noise
// from other tests sharing the machine; speed itself is the benchmark's job (npm run bench:core).

import { describe, expect, it } from "vitest";
import { assignKeepAliveRelease, assignRelease, fixture, type Fixture } from "../../bench/core/workloads.js";

function minPerOp(f: Fixture, op: (f: Fixture, n: number) => number, trials: number): number {
  let best = Infinity;
  for (let i = 0; i < trials; i++) best = Math.min(best, op(f, 5_000));
  return best;
}

describe("core complexity", () => {
  // Timing shares the machine with other test files: a retry absorbs a burst of contention.
  it("keeps assign+release and assign+keepAlive+release flat from 10^3 to 10^5 tokens", { retry: 4 }, () => {
    const small = fixture(1_000);
    const large = fixture(100_000);
    for (const op of [assignRelease, assignKeepAliveRelease]) {
      op(small, 20_000); // warm up both, so the JIT has settled before measuring
      op(large, 20_000);
      let smallNs = Infinity;
      let largeNs = Infinity;
      for (let round = 0; round < 5; round++) {
        smallNs = Math.min(smallNs, minPerOp(small, op, 4));
        largeNs = Math.min(largeNs, minPerOp(large, op, 4));
      }
      expect(largeNs / smallNs, `${op.name}: ${largeNs.toFixed(0)} ns at 10^5 vs ${smallNs.toFixed(0)} ns at 10^3`).toBeLessThan(4);
    }
  });
});
