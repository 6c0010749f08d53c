// Progress lines on stderr as the bench goes (stdout is kept for the table and the final JSON line).

import type { Row } from "./measure.js";

const started = Date.now();

export function log(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${t}s] ${line}\n`);
}

/** Logs a finished row and hands it back, so callers can log and collect in one step. */
export function logRow(r: Row): Row {
  const tokens = r.tokensPerCall > 1 ? ` = ${Math.round(r.rps * r.tokensPerCall)} tokens/s` : "";
  const errors = r.errors === undefined ? "" : r.errors > 0 ? `, ${r.errors} ERRORS` : ", 0 errors";
  const cancelled = r.cancelledAtEnd ? ` (${r.cancelledAtEnd} in flight when the load stopped, cancelled by it)` : "";
  log(`  ${r.server} ${r.protocol} ${r.rpc} (round ${r.round}): ${Math.round(r.rps)} calls/s${tokens}, ${Math.round(r.cpuUsPerCall)} µs CPU/call${errors}${cancelled}`);
  return r;
}
