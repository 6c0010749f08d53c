// What a caller pays for AssignTokens(8) and a ListTokens page as the pool grows: the same calls over
// gRPC against servers whose pool holds 10^3 … 10^6 tokens, server CPU per call, in one run.
// `bench:core` times the core alone; there a 10^6 pool's cache misses are most of the cost.

import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import {
  AssignTokensRequestSchema,
  AssignTokensResponseSchema,
  CreatePoolRequestSchema,
  CreatePoolResponseSchema,
  GenerateTokensRequestSchema,
  GenerateTokensResponseSchema,
  ListTokensRequestSchema,
  ListTokensResponseSchema,
  ReleaseTokenRequestSchema,
  ReleaseTokenResponseSchema,
} from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { duration } from "../../test/harness/token-client.js";
import { startServer, type ServerProcess } from "../../test/harness/server-process.js";
import { cpuMs } from "../load/server-cpu.js";
import { H2UnaryClient } from "./h2-unary-client.js";

export interface BySizeOptions {
  readonly stores: readonly string[];
  readonly sizes: readonly number[];
  readonly rounds: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly clients: number;
  readonly connections: number;
}

/** One measured phase: calls completed and the server's CPU per call over the same window. */
export interface Phase {
  readonly calls: number;
  readonly errors: number;
  readonly cpuUsPerCall: number;
  readonly callsPerSec: number;
  readonly load1: number;
}

export interface SizeRow {
  readonly store: string;
  readonly size: number;
  readonly round: number;
  /** One AssignTokens(8) and the ReleaseToken of its 8 leases, as bench:core's "gang of 8". */
  readonly gang: Phase;
  /** One ListTokens page of 100 from a random cursor of the pool. */
  readonly list: Phase;
}

const PASSWORD = "bench-password";
const POOL = "sized";
const GANG = 8;
const PAGE = 100;
const rpc = (m: string): string => `/tokenpool.v1.TokenService/${m}`;

/** Creates the pool with exactly `size` tokens, 100 000 per GenerateTokens (the default --max-generate). */
async function fill(c: H2UnaryClient, size: number): Promise<void> {
  await c.call(rpc("CreatePool"), CreatePoolRequestSchema, CreatePoolResponseSchema, { name: POOL, maxTokens: size, leaseTtl: duration(60_000) });
  for (let made = 0; made < size; ) {
    const count = Math.min(100_000, size - made);
    await c.call(rpc("GenerateTokens"), GenerateTokensRequestSchema, GenerateTokensResponseSchema, { pool: POOL, count });
    made += count;
  }
}

/** Every page boundary of the pool, walked once: the random cursors the list phase starts from. */
async function cursors(c: H2UnaryClient): Promise<string[]> {
  const out = [""];
  for (let token = ""; ; ) {
    const page = await c.call(rpc("ListTokens"), ListTokensRequestSchema, ListTokensResponseSchema, { pool: POOL, pageSize: PAGE, pageToken: token });
    if (page.nextPageToken === "") return out;
    out.push((token = page.nextPageToken));
  }
}

/** Runs `once` in `clients` closed loops for `seconds` and charges the server's CPU over that window to it. */
async function phase(server: ServerProcess, o: BySizeOptions, seconds: number, once: (loop: number) => Promise<void>): Promise<Phase> {
  const pid = server.child.pid!;
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  let calls = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: o.clients }, async (_, loop) => {
      while (performance.now() < until) {
        try {
          await once(loop);
          calls++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  return { calls, errors, cpuUsPerCall: ((cpuMs(pid) - cpu0) * 1000) / Math.max(1, calls), callsPerSec: (calls * 1000) / wallMs, load1: loadavg()[0]! };
}

async function measure(store: string, size: number, round: number, o: BySizeOptions): Promise<SizeRow> {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-bench-size-"));
  const server = await startServer(["--store", store, "--data-dir", dir, "--api-password", PASSWORD, "--total-tokens", "0", "--log-level", "info"]);
  const clients = Array.from({ length: o.connections }, () => new H2UnaryClient(server.url, PASSWORD, "grpc"));
  try {
    await fill(clients[0]!, size);
    const starts = await cursors(clients[0]!);
    const gang = async (loop: number): Promise<void> => {
      const c = clients[loop % clients.length]!;
      const { leases } = await c.call(rpc("AssignTokens"), AssignTokensRequestSchema, AssignTokensResponseSchema, { pool: POOL, owner: `client-${loop}`, count: GANG });
      if (leases.length !== GANG) throw new Error(`gang of ${leases.length}`);
      await Promise.all(
        leases.map((l) => c.call(rpc("ReleaseToken"), ReleaseTokenRequestSchema, ReleaseTokenResponseSchema, { pool: POOL, token: l.token, generation: l.generation })),
      );
    };
    const list = async (loop: number): Promise<void> => {
      const c = clients[loop % clients.length]!;
      const pageToken = starts[Math.floor(Math.random() * starts.length)]!;
      const page = await c.call(rpc("ListTokens"), ListTokensRequestSchema, ListTokensResponseSchema, { pool: POOL, pageSize: PAGE, pageToken });
      if (page.tokens.length === 0) throw new Error("empty page");
    };
    await phase(server, o, o.warmup, gang);
    const g = await phase(server, o, o.seconds, gang);
    await phase(server, o, o.warmup, list);
    const l = await phase(server, o, o.seconds, list);
    return { store, size, round, gang: g, list: l };
  } finally {
    for (const c of clients) c.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every store × size, each round in the opposite order of the one before (so drift in load favours neither end). */
export async function benchByPoolSize(o: BySizeOptions, progress: (line: string) => void): Promise<SizeRow[]> {
  const rows: SizeRow[] = [];
  for (let round = 0; round < o.rounds; round++) {
    const sizes = round % 2 === 0 ? o.sizes : [...o.sizes].reverse();
    for (const store of o.stores) {
      for (const size of sizes) {
        const row = await measure(store, size, round + 1, o);
        rows.push(row);
        progress(
          `round ${row.round} ${store} ${size}: gang ${row.gang.cpuUsPerCall.toFixed(0)} µs CPU (${row.gang.callsPerSec.toFixed(0)}/s, ${row.gang.errors} errors), ` +
            `list ${row.list.cpuUsPerCall.toFixed(0)} µs CPU (${row.list.callsPerSec.toFixed(0)}/s, ${row.list.errors} errors), load ${row.list.load1.toFixed(2)}`,
        );
      }
    }
  }
  return rows;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Prints the table and the largest pool's ratio to the smallest's, per store and call, from medians over rounds. */
export function reportByPoolSize(rows: readonly SizeRow[], o: BySizeOptions, loadBefore: readonly number[]): void {
  const cell = (store: string, size: number, pick: (r: SizeRow) => Phase): { cpu: number; rps: number } => {
    const mine = rows.filter((r) => r.store === store && r.size === size);
    return { cpu: median(mine.map((r) => pick(r).cpuUsPerCall)), rps: median(mine.map((r) => pick(r).callsPerSec)) };
  };
  const small = Math.min(...o.sizes);
  const large = Math.max(...o.sizes);
  const loads = rows.map((r) => r.list.load1);
  console.log(`AssignTokens(${GANG}) + ${GANG} ReleaseToken, and ListTokens(${PAGE}) from a random cursor, over gRPC (h2c, ${o.clients} callers on ${o.connections} connections), ${o.rounds} x ${o.seconds} s`);
  console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(" ")}, after ${loadavg().map((l) => l.toFixed(2)).join(" ")}; 1-minute at the end of each row: min ${Math.min(...loads).toFixed(2)}, median ${median(loads).toFixed(2)}, max ${Math.max(...loads).toFixed(2)}`);
  console.log("store    tokens     gang µs CPU (gangs/s)   list µs CPU (pages/s)   errors");
  const ratios: Record<string, { gang: number; list: number }> = {};
  for (const store of o.stores) {
    for (const size of o.sizes) {
      const g = cell(store, size, (r) => r.gang);
      const l = cell(store, size, (r) => r.list);
      const errors = rows.filter((r) => r.store === store && r.size === size).reduce((n, r) => n + r.gang.errors + r.list.errors, 0);
      console.log(`${store.padEnd(8)} ${String(size).padStart(8)}   ${g.cpu.toFixed(0).padStart(8)} (${g.rps.toFixed(0).padStart(6)})      ${l.cpu.toFixed(0).padStart(8)} (${l.rps.toFixed(0).padStart(6)})   ${errors}`);
    }
    ratios[store] = {
      gang: cell(store, large, (r) => r.gang).cpu / cell(store, small, (r) => r.gang).cpu,
      list: cell(store, large, (r) => r.list).cpu / cell(store, small, (r) => r.list).cpu,
    };
    console.log(`${store}: ${large} / ${small} tokens, server CPU per call: AssignTokens(${GANG}) ${ratios[store].gang.toFixed(2)}x, ListTokens(${PAGE}) ${ratios[store].list.toFixed(2)}x (target <= 1.5x)`);
  }
  console.log(JSON.stringify({ bench: "store-by-pool-size", ratios, rows }));
}
