// Crash-recovery check from the command line: `npm run crash-test -- --rounds 50 --workers 12` runs
// that many kill -9 rounds (test/crash/crash-round.ts) and exits 1 if any lost an acknowledged operation.

import { parseArgs } from "node:util";
import { crashRound, describeRound } from "../test/crash/crash-round.js";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" }, workers: { type: "string", default: "12" } } });
  const rounds = Number(values.rounds);
  let failedRounds = 0;
  let acked = 0;
  let held = 0;
  for (let i = 1; i <= rounds; i++) {
    const r = await crashRound(i, { workers: Number(values.workers) });
    acked += r.acked;
    held += r.heldChecked;
    console.log(describeRound(r));
    for (const v of r.violations) console.log(`  ${v}`);
    if (r.violations.length > 0) failedRounds++;
  }
  console.log(`${rounds} rounds, ${acked} acknowledged operations, ${held} surviving leases checked: ${failedRounds === 0 ? "all OK" : `${failedRounds} rounds FAILED`}`);
  process.exitCode = failedRounds === 0 ? 0 : 1;
}

await main();
