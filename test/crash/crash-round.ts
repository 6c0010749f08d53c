// One crash-recovery round: kill -9s an lmdb server under concurrent clients, restarts it on the same
// data dir and checks it against every acknowledged operation (test/crash/crash.test.ts runs 5 in CI,
// scripts/crash-test.ts as many as asked).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { duration, tokenClient } from "../harness/token-client.js";
import { startServer } from "../harness/server-process.js";
import { verifyRecovered } from "./verify.js";
import { emptyLog, startWorkload } from "./workload.js";
import { sleep } from "../harness/sleep.js";

export interface RoundOptions {
  readonly workers?: number;
  /** The kill lands uniformly in this window after the load starts, in ms. */
  readonly killWindowMs?: readonly [number, number];
}

export interface RoundResult {
  readonly round: number;
  readonly killedAfterMs: number;
  readonly acked: number;
  readonly assigns: number;
  readonly releases: number;
  readonly deletes: number;
  readonly generated: number;
  readonly eventsSeen: number;
  readonly tokensChecked: number;
  /** Acknowledged leases that had to survive exactly (not ended, deadline after the kill). */
  readonly heldChecked: number;
  readonly newGenerations: number;
  readonly restartMs: number;
  readonly violations: readonly string[];
}

const PASSWORD = "crash-test-password";
const POOL = "crash";

export async function crashRound(round: number, options: RoundOptions = {}): Promise<RoundResult> {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-crash-"));
  const [minKill, maxKill] = options.killWindowMs ?? [200, 1500];
  const args = [
    "--store", "lmdb",
    "--data-dir", dir,
    "--api-password", PASSWORD,
    // Long enough that no recovered lease expires while the checks run.
    "--restart-grace", "60",
    "--total-tokens", "0",
    "--shutdown-grace", "1",
    "--log-level", "info",
  ];
  try {
    const first = await startServer(args);
    const log = emptyLog();
    let exitTime: number;
    let killedAfterMs: number;
    try {
      const setup = tokenClient(first.url, PASSWORD);
      await setup.createPool({ name: POOL, leaseTtl: duration(2_000), maxTokens: 100_000 });
      log.generated.push(...(await setup.generateTokens({ pool: POOL, count: 64 })).tokens);
      const load = startWorkload(
        { url: first.url, password: PASSWORD, pool: POOL, churnPrefix: "churn", workers: options.workers ?? 12, connections: 4 },
        log,
      );
      killedAfterMs = Math.round(minKill + Math.random() * (maxKill - minKill));
      await sleep(killedAfterMs);
      exitTime = await first.kill9();
      await load.stop();
    } catch (e) {
      first.child.kill("SIGKILL");
      throw e;
    }

    const restartStart = Date.now();
    const second = await startServer(args);
    const restartMs = Date.now() - restartStart;
    try {
      const verified = await verifyRecovered({ client: tokenClient(second.url, PASSWORD), pool: POOL, log, exitTime });
      const code = await second.stop();
      const violations = [...verified.violations];
      if (code !== 0) violations.push(`graceful stop after recovery exited with ${code}: ${second.stderr().trim()}`);
      return {
        round,
        killedAfterMs,
        acked: log.acked,
        assigns: log.assigns.length,
        releases: log.releases.length,
        deletes: log.deletes.length,
        generated: log.generated.length,
        eventsSeen: log.events.length,
        tokensChecked: verified.tokensChecked,
        heldChecked: verified.heldChecked,
        newGenerations: verified.newGenerations,
        restartMs,
        violations,
      };
    } finally {
      second.child.kill("SIGKILL");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function describeRound(r: RoundResult): string {
  return (
    `round ${r.round}: killed after ${r.killedAfterMs} ms; ${r.acked} acks (${r.assigns} assigns, ${r.releases} releases, ` +
    `${r.deletes} deletes, ${r.generated} tokens generated), ${r.eventsSeen} events watched; checked ${r.tokensChecked} tokens ` +
    `(${r.heldChecked} leases that had to survive), ${r.newGenerations} new generations; restart ${r.restartMs} ms; ` +
    (r.violations.length === 0 ? "OK" : `${r.violations.length} VIOLATIONS`)
  );
}
