// The protocol fuzzer against an already running server, from the command line:
//   node --import tsx scripts/fuzz.ts --url http://127.0.0.1:8080 --password PW --inputs 100000 [--seed N]
// Exits 1 on any violation or broken pool invariant.

import { parseArgs } from "node:util";
import { runFuzz, summarize } from "../test/hardening/fuzz.js";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8080" },
    password: { type: "string", default: process.env.API_PASSWORD ?? "" },
    inputs: { type: "string", default: "10000" },
    seed: { type: "string" },
    concurrency: { type: "string", default: "8" },
  },
});
const report = await runFuzz({
  baseUrl: values.url as string,
  password: values.password as string,
  inputs: Number(values.inputs),
  concurrency: Number(values.concurrency),
  ...(values.seed !== undefined && { seed: Number(values.seed) }),
  onProgress: (n, r) => process.stderr.write(`  ${n} inputs, ${r.violationCount} violations\n`),
});
process.stdout.write(summarize(report) + "\n");
for (const v of report.violations) process.stdout.write(`\n[${v.family}] ${v.outcome}: ${v.problem}\n  ${v.note}\n  ${v.request}\n`);
for (const p of report.invariants?.problems ?? []) process.stdout.write(`invariant: ${p}\n`);
process.exitCode = report.violationCount === 0 && (report.invariants?.problems.length ?? 0) === 0 ? 0 : 1;
