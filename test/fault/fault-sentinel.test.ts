// The fault run on Sentinel (issue 18): 3 tokenpool replicas with --redis-min-replicas-ack 1 on a
// primary + 1 replica + 3 sentinels; kill -9 of the primary (Sentinel fails over, the old one comes back
// as a replica), a replica kill -9 with queued waiters, and a 3 s SIGSTOP of the primary (Sentinel fails
// over under it; it resumes and is demoted): the checker finds no violation. Long run:
// `npm run fault:redis -- --topology sentinel`.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkFaultHistory, violations } from "./check.js";
import { readHistory, type Complete, type FaultRecord, type Invoke } from "./history.js";
import { runFaultWorkload } from "./workload.js";

describe("fault run × 3 replicas on Sentinel with --redis-min-replicas-ack 1", () => {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-fault-sentinel-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("survives primary kill -9 + failover, replica kill -9 and primary SIGSTOP + failover with no violation", async () => {
    const historyPath = join(dir, "history.jsonl");
    await runFaultWorkload({ historyPath, topology: "sentinel", seconds: 24, faults: ["master-kill", "replica-kill", "master-stop"], faultEveryMs: 4000, workers: 12, tokens: 4 });
    const history = readHistory(historyPath);
    const report = checkFaultHistory(history);
    console.log(`sentinel fault run: ${JSON.stringify({ ...report, doubleHolders: report.doubleHolders.length, generationOrder: report.generationOrder.length, lostAcks: report.lostAcks.length, ghosts: report.ghosts.length, unanswered: report.unanswered.length })}`);
    expect(violations(report)).toEqual([]);
    expect(report.faults).toMatchObject({ "master-kill": 1, "master-stop": 1, "replica-kill": 1 });
    // Both the kill and the 3 s stop (down-after is 1 s) made the sentinels promote the other node.
    expect(report.faults.failover).toBe(2);
    expect(report.outcomes["assign:UNAVAILABLE"] ?? 0).toBeGreaterThan(0); // the faults were felt
    // Leases were acknowledged after the writes could be confirmed again, following the last failover.
    const back = Math.max(...history.filter((r): r is FaultRecord => r.k === "fault" && r.what === "redis-start").map((r) => r.t));
    const invokes = new Map(history.filter((r): r is Invoke => r.k === "invoke").map((r) => [r.id, r]));
    const after = history.filter((r): r is Complete => r.k === "complete" && r.outcome === "ok" && r.lease !== undefined && invokes.get(r.id)!.t > back);
    expect(after.length).toBeGreaterThan(0);
    expect(report.ackedLeases).toBeGreaterThan(30);
  }, 90_000);
});
