// The fault test (issue 18): the checker catches each kind of violation in a hand-made history, and a
// short run over 3 replicas on one redis-server — a replica kill -9 with queued waiters, a 3 s
// SIGSTOP of Redis, a Redis kill -9 + restart — has none. The long run is `npm run fault:redis`.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkFaultHistory, violations } from "./check.js";
import { readHistory, type HistoryRecord } from "./history.js";
import { runFaultWorkload } from "./workload.js";

const T = 1_000_000;
const start: HistoryRecord = { k: "start", t: T, pool: "p", tokens: ["a"], seq: 1 };

/** A call: invoke at t, answered after ms with outcome (and a lease when it got one). */
function call(id: number, t: number, ms: number, op: "assign" | "release", owner: string, outcome: string, lease?: { token: string; generation: number }): HistoryRecord[] {
  return [
    { k: "invoke", id, t, op, owner, replica: 0, deadlineMs: 3000, ...(op === "assign" ? { rid: `${owner}#${id}` } : { token: lease?.token ?? "a", generation: lease?.generation ?? 1 }) },
    { k: "complete", id, t: t + ms, outcome, ...(op === "assign" && lease && { lease: { ...lease, expireMs: t + 5000 } }) },
  ];
}
const ev = (seq: number, type: string, owner: string, generation: number, time: number): HistoryRecord => ({ k: "event", seq, type, token: "a", owner, generation, time });

describe("fault history checker", () => {
  const clean: HistoryRecord[] = [
    start,
    ...call(1, T + 10, 5, "assign", "x", "ok", { token: "a", generation: 1 }),
    ev(2, "ASSIGNED", "x", 1, T + 12),
    ...call(2, T + 100, 5, "release", "x", "ok", { token: "a", generation: 1 }),
    ev(3, "RELEASED", "x", 1, T + 102),
    ...call(3, T + 200, 5, "assign", "y", "ok", { token: "a", generation: 2 }),
    ev(4, "ASSIGNED", "y", 2, T + 202),
    { k: "end", t: T + 300, seq: 4, generation: 2 },
  ];

  it("passes a clean history", () => {
    expect(violations(checkFaultHistory(clean))).toEqual([]);
  });

  it("finds overlapping holders, lost acks, ghost leases and late or undocumented answers", () => {
    const overlap = checkFaultHistory([start, ...call(1, T, 5, "assign", "x", "ok", { token: "a", generation: 1 }), ...call(2, T + 50, 5, "assign", "y", "ok", { token: "a", generation: 2 }), ev(2, "ASSIGNED", "x", 1, T + 2), ev(3, "ASSIGNED", "y", 2, T + 52)]);
    expect(overlap.doubleHolders.length).toBeGreaterThan(0);
    expect(overlap.generationOrder.join()).toContain("while held by x"); // the event stream says so too

    const lost = checkFaultHistory([start, ...call(1, T, 5, "assign", "x", "ok", { token: "a", generation: 1 })]);
    expect(lost.lostAcks).toEqual(["lease a gen 1 acknowledged to x, never assigned in the event stream"]);

    // The orphaned-waiter defect: granted to x while x's call was answered POOL_EXHAUSTED.
    const ghost = checkFaultHistory([start, ...call(1, T, 3000, "assign", "x", "POOL_EXHAUSTED"), ev(2, "ASSIGNED", "x", 1, T + 1000)]);
    expect(ghost.ghosts).toHaveLength(1);
    // The same grant after an answer that said the outcome is unknown is not a ghost.
    const told = checkFaultHistory([start, ...call(1, T, 1000, "assign", "x", "UNAVAILABLE"), ev(2, "ASSIGNED", "x", 1, T + 500)]);
    expect(told.ghosts).toEqual([]);
    expect(told.unreceivedAfterUnknown).toBe(1);

    const late = checkFaultHistory([start, ...call(1, T, 4000, "assign", "x", "UNAVAILABLE"), ...call(2, T, 10, "assign", "y", "transport:DeadlineExceeded"), ...call(3, T, 10, "assign", "z", "INTERNAL")]);
    expect(late.unanswered).toHaveLength(3);

    const backwards = checkFaultHistory([start, ...call(1, T, 5, "assign", "x", "ok", { token: "a", generation: 2 }), ev(2, "ASSIGNED", "x", 2, T + 2), ev(3, "RELEASED", "x", 2, T + 20), ...call(2, T + 30, 5, "assign", "y", "ok", { token: "a", generation: 1 }), ev(4, "ASSIGNED", "y", 1, T + 32)]);
    expect(backwards.generationOrder.length).toBeGreaterThan(0);
  });
});

describe("fault run × 3 replicas on one redis-server", () => {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-fault-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("survives replica kill -9 with queued waiters, Redis SIGSTOP and Redis kill -9 with no violation", async () => {
    const historyPath = join(dir, "history.jsonl");
    await runFaultWorkload({ historyPath, seconds: 18, faults: ["replica-kill", "redis-stop", "redis-kill"], faultEveryMs: 4000, workers: 12, tokens: 4 });
    const history = readHistory(historyPath);
    const report = checkFaultHistory(history);
    console.log(`fault run: ${JSON.stringify({ ...report, doubleHolders: report.doubleHolders.length, generationOrder: report.generationOrder.length, lostAcks: report.lostAcks.length, ghosts: report.ghosts.length, unanswered: report.unanswered.length })}`);
    expect(violations(report)).toEqual([]);
    expect(report.faults).toMatchObject({ "replica-kill": 1, "redis-stop": 1, "redis-kill": 1 });
    const kill = history.find((r) => r.k === "fault" && r.what === "replica-kill");
    expect(kill).toMatchObject({ queued: expect.any(Number) });
    expect(kill?.k === "fault" && (kill.queued ?? 0) > 0).toBe(true); // it died with blocked assigns in flight
    expect(report.ackedLeases).toBeGreaterThan(50);
    expect(report.outcomes["assign:UNAVAILABLE"] ?? 0).toBeGreaterThan(0); // the faults were felt
  }, 60_000);
});
