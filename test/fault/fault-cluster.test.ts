// The fault run on Redis Cluster (issue 18): 3 tokenpool replicas with --redis-cluster and
// --redis-min-replicas-ack 1 on 3 masters with a replica each; the pool's slot is moved to another
// master twice under load (MIGRATING/IMPORTING, MIGRATE in batches, SETSLOT NODE, as `redis-cli --cluster
// reshard` does) and a replica is killed -9 with queued waiters: the checker finds no violation, and
// every replica serves the pool on its new master. Long run: `npm run fault:redis -- --topology cluster`.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkFaultHistory, violations } from "./check.js";
import { readHistory, type Complete, type FaultRecord, type Invoke } from "./history.js";
import { runFaultWorkload } from "./workload.js";

describe("fault run × 3 replicas on a 3-master Redis Cluster with --redis-min-replicas-ack 1", () => {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-fault-cluster-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("survives moving the pool's slot under load and a replica kill -9 with no violation", async () => {
    const historyPath = join(dir, "history.jsonl");
    await runFaultWorkload({ historyPath, topology: "cluster", seconds: 14, faults: ["slot-move", "replica-kill", "slot-move"], faultEveryMs: 3500, workers: 12, tokens: 4 });
    const history = readHistory(historyPath);
    const report = checkFaultHistory(history);
    console.log(`cluster fault run: ${JSON.stringify({ ...report, doubleHolders: report.doubleHolders.length, generationOrder: report.generationOrder.length, lostAcks: report.lostAcks.length, ghosts: report.ghosts.length, unanswered: report.unanswered.length })}`);
    expect(violations(report)).toEqual([]);
    expect(report.faults).toMatchObject({ "slot-move": 2, "slot-moved": 2, "replica-kill": 1 });
    const moves = history.filter((r): r is FaultRecord => r.k === "fault" && r.what === "slot-moved");
    expect(moves.every((m) => (m.keys ?? 0) > 0)).toBe(true); // the pool's keys really changed masters
    expect(new Set(moves.map((m) => m.port)).size).toBe(2);
    // Every replica got leases from the pool's new master after the last move (a replica whose slot map
    // still named the old master used to refuse every call until its periodic slot refresh).
    const last = Math.max(...moves.map((m) => m.t));
    const invokes = new Map(history.filter((r): r is Invoke => r.k === "invoke").map((r) => [r.id, r]));
    const servedBy = new Set(
      history.filter((r): r is Complete => r.k === "complete" && r.outcome === "ok" && r.lease !== undefined && invokes.get(r.id)!.t > last).map((r) => invokes.get(r.id)!.replica),
    );
    expect([...servedBy].sort()).toEqual([0, 1, 2]);
    expect(report.ackedLeases).toBeGreaterThan(50);
  }, 90_000);
});
