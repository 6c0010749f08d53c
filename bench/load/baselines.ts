// The reference servers measured with the same client settings: bare node:http2 (what Node can do
// without any RPC framework; the grpc-js floor runs in the interleaved rounds, beside the two gRPC
// engines), and the original Flask service next to tokenpool's legacy routes.

import type { Measurer, Row } from "./measure.js";
import { logRow, log } from "./progress.js";
import { startBaseline, startFlask, type Running } from "./servers.js";

export async function bareHttp2(m: Measurer): Promise<Row[]> {
  const rows: Row[] = [];
  log("bare node:http2 (fixed response)");
  const bare = await startBaseline("bare-http2");
  try {
    rows.push(logRow(await m.rpc(bare, "connect-proto", "assign", 1, false)));
    rows.push(logRow(await m.rpc(bare, "grpc", "assign", 1, false)));
  } finally {
    await bare.stop();
  }
  return rows;
}

/** Flask and tokenpool's legacy routes, route by route, alternating. */
export async function legacyAgainstFlask(m: Measurer, tokenpool: Running, password: string): Promise<Row[]> {
  const rows: Row[] = [];
  log("original Flask service (flask run) vs tokenpool legacy routes");
  // The counter never runs out: every /issue_token of the run succeeds, as on tokenpool's large pool.
  const flask = await startFlask(password, 1_000_000_000);
  try {
    for (const route of ["issue_token", "recycle_token", "tokens"] as const) {
      for (const server of [flask, tokenpool]) {
        // /recycle_token needs outstanding tokens: issue some more first (not measured).
        if (route === "recycle_token") await m.get(server, "issue_token", 0).catch(() => undefined);
        rows.push(logRow(await m.get(server, route, 1)));
      }
    }
  } finally {
    await flask.stop();
  }
  return rows;
}
