// Memory per lease, measured in a fresh process with full collections: a token id is one flat string
// (~40 B), not the rope of one node per appended character that V8 builds for `out += c` (~360 B,
// kept for the id's whole life: 320 B of waste per lease at 10^6 leases). The figures at 10^6, whole
// process, are bench:core's and bench:load's (docs/BENCHMARKS.md); this holds the cause.

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("memory per lease", () => {
  it("keeps each token id flat, and a live lease of the core within 200 B", { timeout: 120_000 }, () => {
    const out = execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", "test/core/fixtures/id-heap.ts"], { encoding: "utf8", timeout: 100_000 });
    const { perId, perLease } = JSON.parse(out.trim().split("\n").at(-1)!) as { perId: number; perLease: number };
    // A flat 22-character one-byte string is 40 B on a 64-bit heap; a rope was ~360 B.
    expect(perId).toBeGreaterThan(20);
    expect(perId).toBeLessThan(64);
    expect(perLease).toBeGreaterThan(50);
    // At 2·10^5 the slab's doubled arrays are 31 % spare (at 10^6, 5 %): ~150 B here, ~135 B there.
    expect(perLease).toBeLessThan(200);
  });
});
