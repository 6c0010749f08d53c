// bench:store --by-pool-size keeps measuring real calls: every gang is whole, every page non-empty,
// and each row's CPU per call comes from the server process it started (it would rot silently otherwise).

import { describe, expect, it } from "vitest";
import { benchByPoolSize } from "../../bench/store/by-pool-size.js";

describe("bench:store --by-pool-size", () => {
  it("runs whole gangs and real pages against pools of each size, with no failed call", async () => {
    const o = { stores: ["lmdb"], sizes: [200, 1_000], rounds: 1, seconds: 0.5, warmup: 0.2, clients: 4, connections: 1 };
    const lines: string[] = [];
    const rows = await benchByPoolSize(o, (l) => lines.push(l));
    expect(rows.map((r) => r.size)).toEqual([200, 1_000]);
    for (const r of rows) {
      expect(r.gang.errors).toBe(0);
      expect(r.list.errors).toBe(0);
      expect(r.gang.calls).toBeGreaterThan(0);
      expect(r.list.calls).toBeGreaterThan(0);
      expect(r.gang.cpuUsPerCall).toBeGreaterThan(0);
    }
    expect(lines).toHaveLength(2);
  }, 60_000);
});
