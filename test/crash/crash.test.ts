// kill -9 under concurrent load, restart on the same data dir, and hold the server to everything it
// acknowledged (see crash-round.ts; `npm run crash-test -- --rounds 50` runs more rounds).

import { describe, expect, it } from "vitest";
import { crashRound, describeRound } from "./crash-round.js";

const ROUNDS = 5;

describe("lmdb crash recovery", () => {
  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: acknowledged state survives kill -9`, async () => {
      const result = await crashRound(round);
      console.log(describeRound(result));
      expect(result.violations).toEqual([]);
      // The round really exercised something: acknowledged work before the kill, fresh leases after.
      expect(result.acked).toBeGreaterThan(10);
      expect(result.newGenerations).toBeGreaterThan(0);
    }, 120_000);
  }
});
