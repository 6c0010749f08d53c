// Soak test: runs a tokenpool server under mixed load (assign / keep-alive / release / expiry, watchers,
// legacy routes, fuzzed bad input) for a while and reports throughput, outcomes by code, server RSS and
// heap over time with their trend, event-loop lag and a final invariant check; exits 1 on a failed verdict.
//   npm run soak -- --minutes 10   (--seconds 30, --store lmdb|memory|redis, --workers 12, --no-bad-input,
//                                   --report file.json: the whole report with every sample)

import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { runSoak, TREND_MIN_RUN_S, type SoakReport, type StoreChoice } from "../test/soak/run.js";

const MiB = 1024 * 1024;

export function describeSoak(r: SoakReport): string {
  const mib = (b: number): string => (b / MiB).toFixed(1);
  const out: string[] = [];
  out.push(`tokenpool soak: ${r.durationS.toFixed(0)} s, store ${r.store}, ${r.workers} holder workers`);
  out.push(`throughput: ${r.callsPerSecond.toFixed(0)} calls/s from the clients, ${r.serverRpcPerSecond.toFixed(0)} RPCs/s finished by the server`);
  out.push("", "over time (server's /metrics):");
  out.push(`  ${"t (s)".padStart(7)} ${"calls/s".padStart(8)} ${"RSS MiB".padStart(8)} ${"heap MiB".padStart(9)} ${"lag p99 ms".padStart(11)} ${"watches".padStart(8)}`);
  const step = Math.max(1, Math.ceil(r.samples.length / 20));
  for (let i = 0; i < r.samples.length; i += step) {
    const s = r.samples[i]!;
    const prev = r.samples[Math.max(0, i - step)]!;
    const rate = i === 0 ? 0 : (s.calls - prev.calls) / Math.max(0.001, s.t - prev.t);
    out.push(
      `  ${s.t.toFixed(0).padStart(7)} ${rate.toFixed(0).padStart(8)} ${mib(s.rssBytes).padStart(8)} ${mib(s.heapUsedBytes).padStart(9)} ` +
        `${(s.lagP99Seconds * 1000).toFixed(1).padStart(11)} ${String(s.watchStreams).padStart(8)}`,
    );
  }
  out.push("", "calls by operation and outcome:");
  for (const [op, row] of Object.entries(r.calls).sort()) {
    const cells = Object.entries(row).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    out.push(`  ${op.padEnd(28)} ${cells.join(", ")}`);
  }
  const errors = Object.entries(r.errorsByCode).sort((a, b) => b[1] - a[1]);
  out.push("", `errors by code: ${errors.length ? errors.map(([k, n]) => `${k} ${n}`).join(", ") : "none"}`);
  out.push(`unexpected outcomes: ${r.unexpected.count}${r.unexpected.first.length ? ` — ${r.unexpected.first.slice(0, 5).join("; ")}` : ""}`);
  const b = r.badInput;
  const outcomes = Object.entries(b.byOutcome).sort((x, y) => y[1] - x[1]).slice(0, 8);
  out.push("", `bad input (${b.source}): ${b.inputs} inputs, ${b.sent} sent, ${b.violations} judged wrong, ${b.harnessErrors} harness errors`);
  out.push(`  top outcomes: ${outcomes.map(([k, n]) => `${k} ${n}`).join(", ")}`);
  for (const v of b.firstViolations.slice(0, 3)) out.push(`  ! ${v}`);
  const w = r.watch;
  out.push("", `watchers: ${w.events} events (${Object.entries(w.byType).map(([k, n]) => `${k} ${n}`).join(", ")}), ${w.resumes} resumes, ${w.churned} short-lived streams, ${w.violations} invariant violations`);
  for (const v of w.firstViolations.slice(0, 3)) out.push(`  ! ${v}`);
  const m = r.memory;
  const trend = (t: SoakReport["memory"]["heapTrend"]): string =>
    t
      ? `${t.slopePerMinute >= 0 ? "+" : ""}${mib(t.slopePerMinute)} MiB/min (${mib(t.growthBytes)} MiB over the second half, ${t.points} post-GC samples)`
      : "inconclusive (fewer than 3 major GCs in the second half)";
  const judged = r.durationS >= TREND_MIN_RUN_S ? "" : ` (reported, judged on runs of ${TREND_MIN_RUN_S / 60} min or more)`;
  out.push("", `server memory      start      mid      end   trend after major GCs, second half${judged}`);
  out.push(`  RSS        ${mib(m.rssStart).padStart(10)} ${mib(m.rssMid).padStart(8)} ${mib(m.rssEnd).padStart(8)}   ${trend(m.rssTrend)}`);
  out.push(`  heap used  ${mib(m.heapStart).padStart(10)} ${mib(m.heapMid).padStart(8)} ${mib(m.heapEnd).padStart(8)}   ${trend(m.heapTrend)}`);
  out.push(`  RSS peak ${mib(m.rssPeak)} MiB`);
  out.push(`event-loop lag p99 per interval: median ${(r.lagP99.medianS * 1000).toFixed(1)} ms, max ${(r.lagP99.maxS * 1000).toFixed(1)} ms`);
  const f = r.finalCheck;
  out.push("", `final check: ${f.poolsChecked} pools (${f.tokensInAllPools} tokens) add up, ${f.tokensChecked} soak tokens read back FREE, ${f.problems.length} problems; server exit ${r.serverExit}`);
  for (const p of f.problems.slice(0, 5)) out.push(`  ! ${p}`);
  const logged = Object.entries(r.serverLog.warnOrWorse).sort((a, b) => b[1] - a[1]);
  out.push(`server log, warn or worse: ${logged.length ? logged.map(([k, n]) => `"${k}" ${n}`).join(", ") : "none"}`);
  for (const line of r.serverLog.first.slice(0, 3)) out.push(`  ${line.slice(0, 300)}`);
  out.push("", `verdict: ${r.verdict.pass ? "PASS" : "FAIL"}`);
  for (const failure of r.verdict.failures) out.push(`  - ${failure}`);
  return out.join("\n");
}

/** The figures on one line, for CI logs and scripts. */
export function soakSummary(r: SoakReport): Record<string, unknown> {
  const round = (x: number, d = 1): number => Number(x.toFixed(d));
  return {
    pass: r.verdict.pass,
    failures: r.verdict.failures,
    seconds: round(r.durationS),
    store: r.store,
    callsPerSecond: round(r.callsPerSecond),
    serverRpcPerSecond: round(r.serverRpcPerSecond),
    errorsByCode: r.errorsByCode,
    unexpected: r.unexpected.count,
    watchEvents: r.watch.events,
    watchViolations: r.watch.violations,
    badInputs: r.badInput.inputs,
    badInputViolations: r.badInput.violations,
    rssMiB: { start: round(r.memory.rssStart / MiB), mid: round(r.memory.rssMid / MiB), end: round(r.memory.rssEnd / MiB), peak: round(r.memory.rssPeak / MiB) },
    heapMiB: { start: round(r.memory.heapStart / MiB), mid: round(r.memory.heapMid / MiB), end: round(r.memory.heapEnd / MiB) },
    heapTrendMiBPerMin: r.memory.heapTrend ? round(r.memory.heapTrend.slopePerMinute / MiB, 2) : null,
    rssTrendMiBPerMin: r.memory.rssTrend ? round(r.memory.rssTrend.slopePerMinute / MiB, 2) : null,
    lagP99Ms: { median: round(r.lagP99.medianS * 1000), max: round(r.lagP99.maxS * 1000) },
    finalCheckProblems: r.finalCheck.problems.length,
    serverWarnings: Object.values(r.serverLog.warnOrWorse).reduce((a, b) => a + b, 0),
    poolsAtEnd: r.finalCheck.poolsChecked,
    tokensAtEnd: r.finalCheck.tokensInAllPools,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string" },
      seconds: { type: "string" },
      store: { type: "string", default: "lmdb" },
      "redis-url": { type: "string" },
      workers: { type: "string", default: "12" },
      "no-bad-input": { type: "boolean", default: false },
      report: { type: "string" },
    },
  });
  const seconds = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes ?? "10") * 60;
  const workers = Number(values.workers);
  if (!(seconds > 0) || !Number.isInteger(workers) || workers < 1) throw new Error("--minutes/--seconds must be positive, --workers a whole number");
  if (!["lmdb", "memory", "redis"].includes(values.store)) throw new Error("--store must be lmdb, memory or redis");
  const report = await runSoak({
    durationMs: seconds * 1000,
    store: values.store as StoreChoice,
    ...(values["redis-url"] !== undefined && { redisUrl: values["redis-url"] }),
    workers,
    badInput: !values["no-bad-input"],
    progress: (line) => process.stderr.write(`soak: ${line}\n`),
  });
  if (values.report !== undefined) writeFileSync(values.report, JSON.stringify(report, null, 1));
  process.stdout.write(`${describeSoak(report)}\n`);
  process.stdout.write(`${JSON.stringify({ soak: soakSummary(report) })}\n`);
  process.exitCode = report.verdict.pass ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((e: unknown) => {
    process.stderr.write(`soak: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  });
}
