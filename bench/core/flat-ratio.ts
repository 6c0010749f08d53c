// Per-operation cost at 10^3 and 10^5 tokens, measured in a fresh process and printed as one JSON
// line: the complexity test runs it, because JIT decisions differ from process to process.

import { assignKeepAliveRelease, assignManyRelease, assignRelease, fixture, listPage, type Fixture } from "./workloads.js";

// Issue 17's operations, per call: a gang of 8 (with its releases) and a ListTokens page of 100.
const assignGang8 = (f: Fixture, n: number): number => assignManyRelease(f, Math.max(1, n >> 3), 8);
const listPage100 = (f: Fixture, n: number): number => listPage(f, Math.max(1, n / 100), 100);

function best(f: Fixture, op: (f: Fixture, n: number) => number): number {
  let min = Infinity;
  for (let i = 0; i < 4; i++) min = Math.min(min, op(f, 5_000));
  return min;
}

const small = fixture(1_000);
const large = fixture(100_000);
const result: Record<string, { small: number; large: number }> = {};
for (const op of [assignRelease, assignKeepAliveRelease, assignGang8, listPage100]) {
  op(small, 20_000); // warm up both, so the JIT has settled before measuring
  op(large, 20_000);
  let smallNs = Infinity;
  let largeNs = Infinity;
  for (let round = 0; round < 5; round++) {
    smallNs = Math.min(smallNs, best(small, op));
    largeNs = Math.min(largeNs, best(large, op));
  }
  result[op.name] = { small: Math.round(smallNs), large: Math.round(largeNs) };
}
process.stdout.write(JSON.stringify(result) + "\n");
