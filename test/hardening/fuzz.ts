// The protocol fuzzer: runFuzz() sends N generated hostile requests to a live server (HTTP/1.1 raw
// sockets and HTTP/2), judges every response, then checks the pool invariants. Used by
// test/hardening/fuzz.test.ts (a few thousand inputs), the soak (≥ 10^5) and scripts/fuzz.ts.

import fc from "fast-check";
import { defaultLimits } from "../../src/config/limits.js";
import { fuzzCases, regressionCases, type FuzzCase, type FuzzLimits } from "./cases/index.js";
import { checkPoolInvariants, startEventRecorder, type InvariantReport } from "./invariants.js";
import { judge } from "./oracle.js";
import { createSender, type WireRequest } from "./raw-sender.js";

export interface FuzzOptions {
  readonly baseUrl: string;
  readonly password: string;
  /** How many inputs to generate and send. */
  readonly inputs: number;
  /** fast-check seed; the same seed replays the same inputs. Random when unset (printed in the report). */
  readonly seed?: number;
  /** Requests in flight at once. */
  readonly concurrency?: number;
  /** How long to wait for one response before judging it a hang (or an open stream). */
  readonly timeoutMs?: number;
  /** The server's limits, so oversized inputs land just past them. */
  readonly limits?: Partial<FuzzLimits>;
  /** The server's request header limit (bytes); larger header blocks may be refused at the HTTP layer. */
  readonly maxHeaderBytes?: number;
  /**
   * Send the regression inputs (past bugs, a dozen requests, two of them held open ~1.5 s) first
   * (default true); a caller running many small batches can keep them to its first batch.
   */
  readonly includeRegressions?: boolean;
  /** Record lease events during the run and check pool invariants afterwards (default true). */
  readonly checkInvariants?: boolean;
  /** Violations kept in the report (all are counted). */
  readonly keepViolations?: number;
  /** Called every `progressEvery` inputs (soak progress lines). */
  readonly onProgress?: (done: number, report: FuzzReport) => void;
  readonly progressEvery?: number;
}

export interface Violation {
  readonly family: string;
  readonly note: string;
  readonly outcome: string;
  readonly problem: string;
  /** The request, printable: method, path, headers and the first bytes of the body (hex). */
  readonly request: string;
}

export interface FuzzReport {
  readonly seed: number;
  /** Inputs generated (= options.inputs). */
  inputs: number;
  /** Inputs that reached the server (our own HTTP/2 client refuses a few header shapes). */
  sent: number;
  durationMs: number;
  /** Inputs per generator family. */
  readonly byFamily: Record<string, number>;
  /** Judged outcome per response, e.g. "grpc:invalid_argument", "connect:ok", "legacy:401", "http:415". */
  readonly byOutcome: Record<string, number>;
  violationCount: number;
  readonly violations: Violation[];
  invariants?: InvariantReport;
}

const BATCH = 256;

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const seed = options.seed ?? (Math.random() * 2 ** 31) | 0;
  const limits: FuzzLimits = { ...defaultLimits, ...options.limits };
  const timeoutMs = options.timeoutMs ?? 5000;
  const concurrency = options.concurrency ?? 8;
  const keep = options.keepViolations ?? 50;
  const report: FuzzReport = { seed, inputs: 0, sent: 0, durationMs: 0, byFamily: {}, byOutcome: {}, violationCount: 0, violations: [] };
  const oracle = { password: options.password, clientTimeoutMs: timeoutMs, maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024 };
  const recorder = options.checkInvariants === false ? undefined : await startEventRecorder(options.baseUrl, options.password);
  const sender = createSender(options.baseUrl);
  const arbitrary = fuzzCases({ password: options.password, limits });
  const started = Date.now();
  try {
    // Known past failures first (they count towards the inputs), then generated ones.
    const regressions = options.includeRegressions === false ? [] : regressionCases({ password: options.password, limits }).slice(0, options.inputs);
    await Promise.all(regressions.map((c) => runOne(c)));
    for (let offset = regressions.length; offset < options.inputs; offset += BATCH) {
      // Batches from derived seeds: any batch can be regenerated on its own from (seed, offset).
      const n = Math.min(BATCH, options.inputs - offset);
      const cases = fc.sample(arbitrary, { seed: seed + offset, numRuns: n });
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < cases.length) {
          const c = cases[next++] as FuzzCase;
          await runOne(c);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, cases.length) }, worker));
    }
  } finally {
    sender.close();
    report.durationMs = Date.now() - started;
  }
  if (recorder) {
    try {
      report.invariants = await checkPoolInvariants({ baseUrl: options.baseUrl, password: options.password, recorder });
    } finally {
      recorder.stop();
    }
  }
  return report;

  /** Sends one input, judges the answer and counts it. */
  async function runOne(c: FuzzCase): Promise<void> {
    report.inputs++;
    report.byFamily[c.family] = (report.byFamily[c.family] ?? 0) + 1;
    const wait = c.timeoutMs ?? timeoutMs;
    const result = await sender.send(c.request, wait);
    const verdict = judge(c.request, result, { ...oracle, clientTimeoutMs: wait });
    if (verdict.outcome !== "unsent") report.sent++;
    report.byOutcome[verdict.outcome] = (report.byOutcome[verdict.outcome] ?? 0) + 1;
    if (verdict.problem !== undefined) {
      report.violationCount++;
      if (report.violations.length < keep) {
        report.violations.push({ family: c.family, note: c.note, outcome: verdict.outcome, problem: verdict.problem, request: printable(c.request, options.password) });
      }
    }
    const every = options.progressEvery ?? 10_000;
    if (options.onProgress && report.inputs % every === 0) options.onProgress(report.inputs, report);
  }
}

/** The request for a report; the server's password shows as <password>, so reports can be shared (and CI logs hold no secret). */
export function printable(r: WireRequest, password: string): string {
  const hide = (text: string): string => (password === "" ? text : text.replaceAll(password, "<password>"));
  if (r.raw) return `raw ${JSON.stringify(hide(Buffer.from(r.raw).toString("latin1")).slice(0, 300))}`;
  const body = Buffer.from(r.body);
  const shortened = (v: string): string => (v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v);
  const headers = r.headers.map(([k, v]) => `${k}: ${shortened(hide(v))}`).join(" | ");
  const cut = r.truncateBodyAt !== undefined ? ` (cut at ${r.truncateBodyAt})` : "";
  return `${r.transport} ${r.method} ${hide(r.path).slice(0, 200)} [${headers}] body ${body.length}B${cut}: ${body.subarray(0, 64).toString("hex")}`;
}

/** One line per count, largest first: for logs and the soak summary. */
export function summarize(report: FuzzReport): string {
  const rows = (o: Record<string, number>): string =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `  ${k.padEnd(34)} ${v}`)
      .join("\n");
  const inv = report.invariants;
  return [
    `fuzz: ${report.inputs} inputs (${report.sent} sent) in ${(report.durationMs / 1000).toFixed(1)} s, seed ${report.seed}, ${report.violationCount} violations`,
    "by family:",
    rows(report.byFamily),
    "by outcome:",
    rows(report.byOutcome),
    inv
      ? `invariants: ${inv.pools} pools, ${inv.tokensChecked} tokens checked against ${inv.eventsReplayed} replayed events (${inv.completeHistories} complete histories), ${inv.problems.length} problems`
      : "invariants: not checked",
  ].join("\n");
}
