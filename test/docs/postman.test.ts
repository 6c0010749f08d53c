// The Postman collection, run by newman against a live server: every request executes and every
// one of its Postman tests passes.

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../harness/server.js";

interface RunSummary {
  run: {
    stats: { requests: { total: number; failed: number }; assertions: { total: number; failed: number } };
    failures: { error: { message: string; test?: string }; source?: { name?: string } }[];
  };
}
type Newman = { run(options: Record<string, unknown>, done: (err: Error | null, summary: RunSummary) => void): void };
const newman = createRequire(import.meta.url)("newman") as Newman;
const COLLECTION = fileURLToPath(new URL("../../docs/tokenpool.postman_collection.json", import.meta.url));

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "2"]);
});
afterAll(async () => {
  await s.close();
});

describe("Postman collection", () => {
  it("runs every request with newman and all its tests pass", async () => {
    const summary = await new Promise<RunSummary>((resolve, reject) =>
      newman.run(
        {
          collection: COLLECTION,
          envVar: [
            { key: "baseUrl", value: s.url },
            { key: "password", value: s.password },
          ],
          reporters: [],
        },
        (err, sum) => (err ? reject(err) : resolve(sum)),
      ),
    );
    const failures = summary.run.failures.map((f) => `${f.source?.name}: ${f.error.test ?? ""} ${f.error.message}`);
    expect(failures).toEqual([]);
    expect(summary.run.stats.requests.total).toBe(21);
    expect(summary.run.stats.requests.failed).toBe(0);
    expect(summary.run.stats.assertions.total).toBeGreaterThanOrEqual(36);
    expect(summary.run.stats.assertions.failed).toBe(0);
  });
});
