// The long fault test from the command line: `npm run fault:redis -- --seconds 180 [--topology
// single|sentinel|cluster]` runs the workload of test/fault/workload.ts (3 replicas on that Redis
// topology, its faults in turn), keeps the history (JSON lines) and checks it offline
// (test/fault/check.ts); exits 1 on any violation.

import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { installCleanup } from "../test/harness/processes.js";
import { checkFaultHistory, violations } from "../test/fault/check.js";
import { readHistory } from "../test/fault/history.js";
import { FAULTS, type TopologyKind } from "../test/fault/topology.js";
import { runFaultWorkload } from "../test/fault/workload.js";

async function main(): Promise<void> {
  installCleanup();
  const { values } = parseArgs({
    options: {
      topology: { type: "string", default: "single" },
      seconds: { type: "string", default: "180" },
      every: { type: "string", default: "6" },
      workers: { type: "string", default: "16" },
      tokens: { type: "string", default: "6" },
      history: { type: "string" },
      check: { type: "string" },
    },
  });
  // --check FILE: only check a history recorded earlier.
  const historyPath = values.check ?? values.history ?? join(mkdtempSync(join(tmpdir(), "tokenpool-fault-")), "history.jsonl");
  const topology = values.topology as TopologyKind;
  if (!(topology in FAULTS)) throw new Error(`--topology ${topology}: expected one of ${Object.keys(FAULTS).join(", ")}`);
  const load: number[] = [];
  if (!values.check) {
    const t0 = Date.now();
    const sampler = setInterval(() => load.push(loadavg()[0]!), 5000);
    await runFaultWorkload({
      historyPath,
      topology,
      seconds: Number(values.seconds),
      faults: FAULTS[topology],
      faultEveryMs: Number(values.every) * 1000,
      workers: Number(values.workers),
      tokens: Number(values.tokens),
      log: (line) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s ${line}`),
    }).finally(() => clearInterval(sampler));
  }
  const report = checkFaultHistory(readHistory(historyPath));
  const found = violations(report);
  console.log(`history: ${historyPath}`);
  if (load.length > 0) console.log(`load average (1 min) during the run: ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} on 2 cores`);
  console.log(JSON.stringify({ ...report, doubleHolders: report.doubleHolders.length, generationOrder: report.generationOrder.length, lostAcks: report.lostAcks.length, ghosts: report.ghosts.length, unanswered: report.unanswered.length }));
  for (const v of found.slice(0, 50)) console.log(`  ${v}`);
  console.log(found.length === 0 ? "no violations" : `${found.length} violations`);
  process.exitCode = found.length === 0 ? 0 : 1;
}

await main();
