// Turns the rows into the printed tables (Markdown, so a run can be pasted into docs/BENCHMARKS.md),
// the target checks, and the final one-line JSON with every figure.

import type { FanoutResult } from "./fanout.js";
import { BASELINE_TREE_SERVER } from "./servers.js";
import { describeMemory, type LatenessResult } from "./lateness.js";
import type { Protocol, Row, RowRpc } from "./measure.js";
import { median, round } from "../../test/harness/stats.js";

export interface Cell {
  /** Median calls/s over the rounds. */
  readonly rps: number;
  readonly cpuUs: number;
  /** Summed over rounds; undefined when the server could not report them. */
  readonly errors: number | undefined;
  readonly rounds: number;
  readonly tokensPerCall: number;
}

export class Results {
  private readonly cells = new Map<string, Cell>();

  constructor(readonly rows: readonly Row[]) {
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      if (r.round === 0) continue; // unmeasured passes (fan-out load is reported on its own)
      const key = Results.key(r.server, r.protocol, r.rpc);
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const [key, rs] of groups) {
      const errs = rs.map((r) => r.errors);
      this.cells.set(key, {
        rps: median(rs.map((r) => r.rps)),
        cpuUs: median(rs.map((r) => r.cpuUsPerCall)),
        errors: errs.some((e) => e === undefined) ? undefined : errs.reduce((n: number, e) => n + (e ?? 0), 0),
        rounds: rs.length,
        tokensPerCall: rs[0]!.tokensPerCall,
      });
    }
  }

  static key(server: string, protocol: Protocol, rpc: RowRpc): string {
    return `${server}|${protocol}|${rpc}`;
  }

  get(server: string, protocol: Protocol, rpc: RowRpc): Cell | undefined {
    return this.cells.get(Results.key(server, protocol, rpc));
  }

  rps(server: string, protocol: Protocol, rpc: RowRpc): number {
    return this.get(server, protocol, rpc)?.rps ?? NaN;
  }
}

const PROTOCOL_NAMES: Record<Protocol, string> = {
  grpc: "gRPC (h2c)",
  "connect-proto": "Connect binary, HTTP/2",
  "connect-json": "Connect JSON, HTTP/1.1",
  "http1-get": "HTTP/1.1 GET",
};
const RPC_NAMES: Record<RowRpc, string> = {
  assign: "AssignToken",
  ka1: "KeepAlive ×1",
  ka100: "KeepAlive ×100",
  pairs: "Assign+Release pair",
  issue_token: "/issue_token",
  recycle_token: "/recycle_token",
  tokens: "/tokens",
};

const fmt = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? "–" : Math.round(x).toLocaleString("en-US"));
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "–");
const errs = (c: Cell | undefined): string => (c === undefined ? "–" : c.errors === undefined ? "n/a" : String(c.errors));

export interface RunInfo {
  readonly machine: string;
  readonly node: string;
  readonly command: string;
  readonly settings: string;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly elapsedSeconds: number;
  /** The checkout run as BASELINE_TREE_SERVER, if any. */
  readonly baselineTree?: string | undefined;
}

export function renderReport(res: Results, fan: FanoutResult | undefined, late: LatenessResult | undefined, info: RunInfo): { text: string; json: Record<string, unknown> } {
  const out: string[] = [];
  const line = (s = ""): void => void out.push(s);
  const has = (server: string): boolean => res.rows.some((r) => r.server === server);

  const loads = res.rows.map((r) => r.load1);
  line(`machine: ${info.machine}; ${info.node}; load average before ${info.loadBefore.map((x) => x.toFixed(2)).join(" ")}, after ${info.loadAfter.map((x) => x.toFixed(2)).join(" ")}`);
  line(`1-minute load average at the end of each row: min ${Math.min(...loads).toFixed(2)}, median ${median(loads).toFixed(2)}, max ${Math.max(...loads).toFixed(2)} (2 cores; the bench itself accounts for about 2)`);
  line(`client: ${info.settings}`);
  line();
  line("Calls/s (median of rounds; server CPU µs per call in brackets); ratios against the Connect floor of the same row");
  line();
  line("| protocol | RPC | Connect floor | tokenpool memory | memory/floor | lmdb | lmdb/memory | redis | redis/memory | errors (mem/lmdb/redis) |");
  line("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
  const cellText = (c: Cell | undefined): string => (c ? `${fmt(c.rps)} (${fmt(c.cpuUs)})` : "–");
  for (const protocol of ["grpc", "connect-proto", "connect-json"] as const) {
    for (const rpc of ["assign", "ka1", "ka100", "pairs"] as const) {
      const floor = res.get("connect-floor", protocol, rpc);
      const mem = res.get("tokenpool-memory", protocol, rpc);
      const lmdb = res.get("tokenpool-lmdb", protocol, rpc);
      const redis = res.get("tokenpool-redis", protocol, rpc);
      if (!floor && !mem) continue;
      line(
        `| ${PROTOCOL_NAMES[protocol]} | ${RPC_NAMES[rpc]} | ${cellText(floor)} | ${cellText(mem)} | ${ratio(mem?.rps ?? NaN, floor?.rps ?? NaN)} | ` +
          `${cellText(lmdb)} | ${lmdb ? ratio(lmdb.rps, mem?.rps ?? NaN) : "–"} | ${cellText(redis)} | ${redis ? ratio(redis.rps, mem?.rps ?? NaN) : "–"} | ` +
          `${errs(mem)}/${errs(lmdb)}/${errs(redis)} |`,
      );
    }
  }
  const cancelledAtEnd = Math.max(0, ...res.rows.map((r) => r.cancelledAtEnd ?? 0));
  if (cancelledAtEnd > 0) {
    line();
    line(
      `Not counted as errors: gRPC calls the server saw cancelled by h2load stopping with them in flight (at most one per open stream; up to ${cancelledAtEnd} in a row of this run). More than that would be.`,
    );
  }
  const cpuText = (c: Cell | undefined): string => (c ? `${fmt(c.cpuUs)} (${fmt(c.rps)})` : "–");
  // (A --connect-only run has no gRPC rows: the tables and targets below that need them are left out.)
  const grpcRows = res.rows.some((r) => r.protocol === "grpc");
  if (grpcRows) {
    line();
    line("gRPC engines, same rounds: server CPU µs per call (calls/s in brackets). Targets: grpc-js engine ≥ 0.6× the grpc-js floor and ≥ 4× the connect engine (CPU per call); KeepAlive ×100 ≥ 0.5× the floor's ×100 row");
    line();
    line("| RPC | grpc-js floor | tokenpool, grpc-js engine | floor/engine (CPU) | engine/floor (calls/s) | tokenpool, connect engine | connect/grpc-js (CPU) |");
    line("|---|---:|---:|---:|---:|---:|---:|");
    for (const rpc of ["assign", "ka1", "ka100", "pairs"] as const) {
      const floor = res.get("grpcjs-floor", "grpc", rpc);
      const engine = res.get("tokenpool-memory", "grpc", rpc);
      const connect = res.get("tokenpool-memory-connect-engine", "grpc", rpc);
      if (!floor && !engine) continue;
      line(
        `| ${RPC_NAMES[rpc]} | ${cpuText(floor)} | ${cpuText(engine)} | ${ratio(floor?.cpuUs ?? NaN, engine?.cpuUs ?? NaN)} | ${ratio(engine?.rps ?? NaN, floor?.rps ?? NaN)} | ` +
          `${cpuText(connect)} | ${ratio(connect?.cpuUs ?? NaN, engine?.cpuUs ?? NaN)} |`,
      );
    }
  }
  // One before/after table per protocol the baseline tree was measured on, against that protocol's floor
  // (gRPC: grpc-js's; Connect: the Connect floor).
  for (const protocol of ["grpc", "connect-proto", "connect-json"] as const) {
    if (!res.rows.some((r) => r.server === BASELINE_TREE_SERVER && r.protocol === protocol)) continue;
    const floorServer = protocol === "grpc" ? "grpcjs-floor" : "connect-floor";
    line();
    line(`${PROTOCOL_NAMES[protocol]}: this tree against the baseline tree (${info.baselineTree ?? "?"}), both tokenpool memory, same rounds: server CPU µs per call (calls/s in brackets)`);
    line();
    line(`| RPC | ${floorServer} | baseline tree | floor/baseline (CPU) | this tree | floor/this tree (CPU) | baseline/this tree (CPU) |`);
    line("|---|---:|---:|---:|---:|---:|---:|");
    for (const rpc of ["assign", "ka1", "ka100", "pairs"] as const) {
      const floor = res.get(floorServer, protocol, rpc);
      const before = res.get(BASELINE_TREE_SERVER, protocol, rpc);
      const after = res.get("tokenpool-memory", protocol, rpc);
      line(
        `| ${RPC_NAMES[rpc]} | ${cpuText(floor)} | ${cpuText(before)} | ${ratio(floor?.cpuUs ?? NaN, before?.cpuUs ?? NaN)} | ${cpuText(after)} | ` +
          `${ratio(floor?.cpuUs ?? NaN, after?.cpuUs ?? NaN)} | ${ratio(before?.cpuUs ?? NaN, after?.cpuUs ?? NaN)} |`,
      );
    }
  }
  line();
  line("KeepAlive token renewals/s (calls/s × tokens per call)");
  line();
  line("| server | protocol | ×1 tokens/s | ×100 tokens/s | gain |");
  line("|---|---|---:|---:|---:|");
  const kaServers = ["tokenpool-memory", "tokenpool-memory-connect-engine", "tokenpool-lmdb", "tokenpool-redis", "connect-floor", "grpcjs-floor"];
  for (const server of kaServers) {
    for (const protocol of ["grpc", "connect-proto", "connect-json"] as const) {
      const k1 = res.get(server, protocol, "ka1");
      const k100 = res.get(server, protocol, "ka100");
      if (!k1 || !k100) continue;
      line(`| ${server} | ${PROTOCOL_NAMES[protocol]} | ${fmt(k1.rps)} | ${fmt(k100.rps * 100)} | ${ratio(k100.rps * 100, k1.rps)} |`);
    }
  }
  if (has("bare-http2")) {
    line();
    line("Baselines (same client settings)");
    line();
    line("| server | protocol | RPC | calls/s | CPU µs/call | tokenpool memory, same row | tokenpool/baseline |");
    line("|---|---|---|---:|---:|---:|---:|");
  }
  for (const r of res.rows) {
    if (r.server !== "bare-http2") continue;
    const tp = res.rps("tokenpool-memory", r.protocol, r.rpc);
    line(`| ${r.server} | ${PROTOCOL_NAMES[r.protocol]} | ${RPC_NAMES[r.rpc]} | ${fmt(r.rps)} | ${fmt(r.cpuUsPerCall)} | ${fmt(tp)} | ${ratio(tp, r.rps)} |`);
  }
  if (has("flask")) {
    line();
    line("Legacy routes: the original Flask service (flask run) vs tokenpool memory (HTTP/1.1 GET)");
    line();
    line("| route | Flask | tokenpool | tokenpool/Flask | errors (Flask/tokenpool) |");
    line("|---|---:|---:|---:|---|");
    for (const route of ["issue_token", "recycle_token", "tokens"] as const) {
      const f = res.get("flask", "http1-get", route);
      const t = res.get("tokenpool-memory", "http1-get", route);
      line(`| /${route} | ${fmt(f?.rps)} | ${fmt(t?.rps)} | ${ratio(t?.rps ?? NaN, f?.rps ?? NaN)} | ${errs(f)}/${errs(t)} |`);
    }
  }

  // Targets, each judged on this run's figures.
  const memFloor: Record<string, number> = {};
  for (const protocol of ["grpc", "connect-proto", "connect-json"] as const) {
    for (const rpc of ["assign", "ka1", "ka100", "pairs"] as const) {
      const r = res.rps("tokenpool-memory", protocol, rpc) / res.rps("connect-floor", protocol, rpc);
      if (Number.isFinite(r)) memFloor[`${protocol}/${rpc}`] = r;
    }
  }
  // The same comparison in server CPU per call: other tenants of a shared machine move it less than req/s.
  const memFloorCpu: Record<string, number> = {};
  for (const protocol of ["grpc", "connect-proto", "connect-json"] as const) {
    for (const rpc of ["assign", "ka1", "ka100", "pairs"] as const) {
      const r = (res.get("connect-floor", protocol, rpc)?.cpuUs ?? NaN) / (res.get("tokenpool-memory", protocol, rpc)?.cpuUs ?? NaN);
      if (Number.isFinite(r)) memFloorCpu[`${protocol}/${rpc}`] = r;
    }
  }
  const lmdbMem: Record<string, number> = {};
  for (const rpc of ["assign", "ka1", "ka100", "pairs"] as const) {
    const r = res.rps("tokenpool-lmdb", "grpc", rpc) / res.rps("tokenpool-memory", "grpc", rpc);
    if (Number.isFinite(r)) lmdbMem[`grpc/${rpc}`] = r;
  }
  const minOf = (o: Record<string, number>): [string, number] => Object.entries(o).reduce((a, b) => (b[1] < a[1] ? b : a), ["–", Infinity]);
  const [worstFloorRow, worstFloor] = minOf(memFloor);
  const [worstLmdbRow, worstLmdb] = minOf(lmdbMem);
  const ka1 = res.rps("tokenpool-memory", "grpc", "ka1");
  const ka100 = res.rps("tokenpool-memory", "grpc", "ka100") * 100;
  const flask = res.rps("flask", "http1-get", "issue_token");
  const legacyIssue = res.rps("tokenpool-memory", "http1-get", "issue_token");
  const verdict = (ok: boolean): string => (ok ? "met" : "MISSED");
  line();
  line("Targets");
  line();
  line(`- tokenpool memory ≥ 0.8× Connect floor on every row: worst ${worstFloor.toFixed(2)}× (${worstFloorRow}) — ${verdict(worstFloor >= 0.8)}`);
  line(`  all rows: ${Object.entries(memFloor).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}`);
  line(`  by server CPU per call (floor CPU / tokenpool CPU): ${Object.entries(memFloorCpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}`);
  if (has("tokenpool-lmdb")) line(`- lmdb ≥ 0.7× memory (gRPC): worst ${worstLmdb.toFixed(2)}× (${worstLmdbRow}) — ${verdict(worstLmdb >= 0.7)}`);
  const gains = (["grpc", "connect-proto", "connect-json"] as const).filter((p) => res.get("tokenpool-memory", p, "ka100") !== undefined).map((p) => [p, (100 * res.rps("tokenpool-memory", p, "ka100")) / res.rps("tokenpool-memory", p, "ka1")] as const);
  line(`- KeepAlive ×100 ≥ 50× the token renewals/s of ×1 (memory): ${gains.map(([p, g]) => `${p} ${g.toFixed(1)}× ${verdict(g >= 50)}`).join(", ")}`);
  if (has("flask")) line(`- ≥ the Flask baseline: legacy /issue_token ${(legacyIssue / flask).toFixed(1)}× Flask; gRPC AssignToken ${(res.rps("tokenpool-memory", "grpc", "assign") / flask).toFixed(1)}× Flask`);
  if (late) {
    const f = (x: number | undefined): string => (x === undefined ? "–" : x.toFixed(1));
    const m = late.moderate;
    line(
      `- expiry lateness p99 ≤ 50 ms (${late.leases} live leases due at ${late.ratePerSec}/s, server histogram): ` +
        `under moderate load (${Math.round(m.loadRps)} KeepAlive(100)/s) p99 ${f(m.p99Ms)} ms (p50 ${f(m.p50Ms)}) — ${verdict(m.p99Ms !== undefined && m.p99Ms <= 50)}`,
    );
    line(`  with one LEASE_EXPIRED subscriber: server p99 ${f(late.withSubscriber.p99Ms)} ms; the subscriber got ${late.subscriber.received}/${late.subscriber.expected}, p99 ${f(late.subscriber.p99Ms)} ms${late.subscriber.endedWith ? ` (cut off: ${late.subscriber.endedWith})` : ""}`);
    line(`  saturated (${Math.round(late.saturated.loadRps)} KeepAlive(100)/s, flat out): server p99 ${f(late.saturated.p99Ms)} ms (p50 ${f(late.saturated.p50Ms)})`);
    if (late.memory) line(`- ${describeMemory(late.leases, late.memory)} (target ≤ 150 B/lease) — ${verdict(late.memory.bytesPerLease <= 150)}`);
  }
  if (fan) {
    line(
      `- ${fan.subscribers} WatchLeases subscribers, no loss at the highest event rate: ${Math.round(fan.eventsPerSec)} events/s ` +
        `(${Math.round(fan.deliveriesPerSec)} deliveries/s), ${fan.lost} lost, ${fan.behind} still behind ${fan.catchUpMs === undefined ? "30 s after the load" : `(caught up ${fan.catchUpMs} ms after the load)`}, ${fan.cut} cut — ${verdict(fan.lost === 0 && fan.cut === 0 && fan.behind === 0)}`,
    );
  }
  line();
  line(`${info.elapsedSeconds.toFixed(0)} s in all; command: ${info.command}`);

  const r0 = (x: number | undefined): number | null => round(x, 0);
  const r2 = (x: number | undefined): number | null => round(x, 2);
  const json: Record<string, unknown> = {
    bench: "load",
    grpc_rps: r0(res.rps("tokenpool-memory", "grpc", "assign")),
    connect_floor_rps: r0(res.rps("connect-floor", "grpc", "assign")),
    grpcjs_rps: r0(res.rps("grpcjs-floor", "grpc", "assign")),
    bare_http2_rps: r0(res.rps("bare-http2", "connect-proto", "assign")),
    flask_rps: r0(flask),
    legacy_issue_rps: r0(legacyIssue),
    connect_proto_rps: r0(res.rps("tokenpool-memory", "connect-proto", "assign")),
    connect_proto_floor_rps: r0(res.rps("connect-floor", "connect-proto", "assign")),
    connect_json_rps: r0(res.rps("tokenpool-memory", "connect-json", "assign")),
    connect_json_floor_rps: r0(res.rps("connect-floor", "connect-json", "assign")),
    lmdb_rps: r0(res.rps("tokenpool-lmdb", "grpc", "assign")),
    redis_rps: r0(res.rps("tokenpool-redis", "grpc", "assign")),
    grpc_pairs_per_s: r0(res.rps("tokenpool-memory", "grpc", "pairs") / 2),
    lmdb_pairs_per_s: r0(res.rps("tokenpool-lmdb", "grpc", "pairs") / 2),
    keepalive1_tokens_per_s: r0(ka1),
    keepalive100_tokens_per_s: r0(ka100),
    keepalive_batch_gain: r2(ka100 / ka1),
    min_floor_ratio: r2(worstFloor),
    min_floor_ratio_row: worstFloorRow,
    floor_ratios: Object.fromEntries(Object.entries(memFloor).map(([k, v]) => [k, r2(v)])),
    floor_cpu_ratios: Object.fromEntries(Object.entries(memFloorCpu).map(([k, v]) => [k, r2(v)])),
    keepalive_batch_gains: Object.fromEntries(gains.map(([p, g]) => [p, r2(g)])),
    min_lmdb_ratio: r2(worstLmdb),
    lmdb_ratios: Object.fromEntries(Object.entries(lmdbMem).map(([k, v]) => [k, r2(v)])),
    grpc_over_grpcjs: r2(res.rps("tokenpool-memory", "grpc", "assign") / res.rps("grpcjs-floor", "grpc", "assign")),
    // Server CPU per call, floor / engine and connect engine / grpc-js engine, per RPC (issue 15 targets).
    grpcjs_engine_vs_floor_cpu: Object.fromEntries(
      (["assign", "ka1", "ka100", "pairs"] as const).map((rpc) => [rpc, r2((res.get("grpcjs-floor", "grpc", rpc)?.cpuUs ?? NaN) / (res.get("tokenpool-memory", "grpc", rpc)?.cpuUs ?? NaN))]),
    ),
    connect_engine_vs_grpcjs_engine_cpu: Object.fromEntries(
      (["assign", "ka1", "ka100", "pairs"] as const).map((rpc) => [
        rpc,
        r2((res.get("tokenpool-memory-connect-engine", "grpc", rpc)?.cpuUs ?? NaN) / (res.get("tokenpool-memory", "grpc", rpc)?.cpuUs ?? NaN)),
      ]),
    ),
    baseline_tree_vs_floor_cpu: has(BASELINE_TREE_SERVER)
      ? Object.fromEntries((["assign", "ka1", "ka100", "pairs"] as const).map((rpc) => [rpc, r2((res.get("grpcjs-floor", "grpc", rpc)?.cpuUs ?? NaN) / (res.get(BASELINE_TREE_SERVER, "grpc", rpc)?.cpuUs ?? NaN))]))
      : null,
    // Before/after (baseline tree CPU / this tree's CPU) for every protocol and RPC the baseline tree ran.
    baseline_over_this_tree_cpu: has(BASELINE_TREE_SERVER)
      ? Object.fromEntries(
          (["grpc", "connect-proto", "connect-json"] as const).flatMap((protocol) =>
            (["assign", "ka1", "ka100", "pairs"] as const)
              .filter((rpc) => res.get(BASELINE_TREE_SERVER, protocol, rpc) !== undefined)
              .map((rpc) => [`${protocol}/${rpc}`, r2((res.get(BASELINE_TREE_SERVER, protocol, rpc)?.cpuUs ?? NaN) / (res.get("tokenpool-memory", protocol, rpc)?.cpuUs ?? NaN))]),
          ),
        )
      : null,
    connect_proto_over_bare_http2: r2(res.rps("tokenpool-memory", "connect-proto", "assign") / res.rps("bare-http2", "connect-proto", "assign")),
    legacy_over_flask: r2(legacyIssue / flask),
    lease_bytes: late?.memory ? late.memory.bytesPerLease : null,
    lateness_p50_ms: late ? r2(late.moderate.p50Ms) : null,
    lateness_p99_ms: late ? r2(late.moderate.p99Ms) : null,
    lateness_expiries: late ? late.moderate.expiries : null,
    lateness_load_rps: late ? r0(late.moderate.loadRps) : null,
    lateness_with_subscriber_p99_ms: late ? r2(late.withSubscriber.p99Ms) : null,
    subscriber_lateness_p99_ms: late ? r2(late.subscriber.p99Ms) : null,
    subscriber_received: late ? late.subscriber.received : null,
    subscriber_expected: late ? late.subscriber.expected : null,
    subscriber_cut: late ? late.subscriber.endedWith !== undefined : null,
    lateness_saturated_p50_ms: late ? r2(late.saturated.p50Ms) : null,
    lateness_saturated_p99_ms: late ? r2(late.saturated.p99Ms) : null,
    lateness_saturated_load_rps: late ? r0(late.saturated.loadRps) : null,
    watch_subscribers: fan?.subscribers ?? null,
    watch_events_per_s: fan ? r0(fan.eventsPerSec) : null,
    watch_deliveries_per_s: fan ? r0(fan.deliveriesPerSec) : null,
    watch_behind: fan ? fan.behind : null,
    watch_catch_up_ms: fan ? (fan.catchUpMs ?? null) : null,
    watch_lost: fan?.lost ?? null,
    watch_cut: fan?.cut ?? null,
    load_before: info.loadBefore.map((x) => r2(x)),
    load1_during: { min: r2(Math.min(...res.rows.map((r) => r.load1))), median: r2(median(res.rows.map((r) => r.load1))), max: r2(Math.max(...res.rows.map((r) => r.load1))) },
    load_after: info.loadAfter.map((x) => r2(x)),
    seconds: r0(info.elapsedSeconds),
    rows: res.rows.map((r) => ({ s: r.server, p: r.protocol, r: r.rpc, n: r.round, rps: r0(r.rps), cpu_us: r0(r.cpuUsPerCall), err: r.errors ?? null })),
  };
  return { text: out.join("\n"), json };
}
