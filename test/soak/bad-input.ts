// The soak's bad-input share: hostile requests from the protocol fuzzer (test/hardening/fuzz.ts,
// which also judges every answer), sent in small batches at low concurrency for as long as the load
// runs. This module is the seam: the soak only sees BadInput and its counts.

import { runFuzz, type FuzzReport } from "../hardening/fuzz.js";
import { sleep } from "../harness/sleep.js";

export interface BadInputStats {
  readonly source: string;
  inputs: number;
  sent: number;
  /** Answers the fuzzer's oracle rejected (a 5xx, a hang, a malformed error, ...). */
  violations: number;
  readonly firstViolations: string[];
  /** Judged outcomes, e.g. "connect:invalid_argument", "legacy:401". */
  readonly byOutcome: Record<string, number>;
  /** The fuzz harness itself failed (not a server verdict, but the share did not run). */
  harnessErrors: number;
}

export interface BadInput {
  readonly stats: BadInputStats;
  /** Stops after the batch in flight. */
  stop(): Promise<void>;
}

export interface BadInputOptions {
  readonly baseUrl: string;
  readonly password: string;
  /** The server's configured limits, so the fuzzer's oversized inputs land just past them. */
  readonly maxRequestBytes: number;
  readonly maxBatchTokens: number;
  readonly inputsPerBatch?: number;
  readonly concurrency?: number;
  /** False: send nothing (the source reads "off"). */
  readonly enabled?: boolean;
}

export function startBadInput(options: BadInputOptions): BadInput {
  const enabled = options.enabled ?? true;
  const stats: BadInputStats = { source: enabled ? "test/hardening/fuzz.ts" : "off", inputs: 0, sent: 0, violations: 0, firstViolations: [], byOutcome: {}, harnessErrors: 0 };
  let stopped = !enabled;
  const merge = (r: FuzzReport): void => {
    stats.inputs += r.inputs;
    stats.sent += r.sent;
    stats.violations += r.violationCount;
    for (const v of r.violations) if (stats.firstViolations.length < 10) stats.firstViolations.push(`${v.family} (${v.note}): ${v.problem} — ${v.request}`);
    for (const [k, n] of Object.entries(r.byOutcome)) stats.byOutcome[k] = (stats.byOutcome[k] ?? 0) + n;
  };
  // The regression inputs (two of them held open ~1.5 s) go in the first batch only.
  let firstBatch = true;
  const loop = (async () => {
    while (!stopped) {
      try {
        merge(
          await runFuzz({
            baseUrl: options.baseUrl,
            password: options.password,
            inputs: options.inputsPerBatch ?? 200,
            concurrency: options.concurrency ?? 2,
            limits: { maxRequestBytes: options.maxRequestBytes, maxBatchTokens: options.maxBatchTokens },
            // Pool invariants are the soak's own final check, once all traffic has stopped.
            checkInvariants: false,
            keepViolations: 5,
            includeRegressions: firstBatch,
          }),
        );
        firstBatch = false;
      } catch (e) {
        stats.harnessErrors++;
        if (stats.firstViolations.length < 10) stats.firstViolations.push(`fuzz harness: ${String(e)}`);
        await sleep(1000);
      }
    }
  })();
  return {
    stats,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
