// A/B of two tokenpool builds in one run: `node --import tsx bench/ab/bench-ab.ts BEFORE_TREE AFTER_TREE [rounds]`
// (each tree built with `npm run build`). Both servers run side by side (memory store) and get the same
// h2load load per row, rounds alternating which goes first, so a loaded machine disturbs both alike;
// prints medians of calls/s and server CPU per call, and their ratios.

import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { AssignTokenRequestSchema, KeepAliveRequestSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { h2load } from "../load/h2load.js";
import { cpuMs } from "../load/server-cpu.js";

const PASSWORD = "ab-password";
const TREES = { before: process.argv[2]!, after: process.argv[3]! };
const ROUNDS = Number(process.argv[4] ?? 4);
const SECONDS = 4;

async function start(cwd: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["dist/src/main.js", "--host", "127.0.0.1", "--port", "0", "--store", "memory", "--api-password", PASSWORD, "--idle-ttl", "0", "--log-level", "info"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const on = (c: Buffer) => {
      buf += c.toString();
      const m = /listening on (http:\/\/[\d.:]+)/.exec(buf);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", on);
    child.on("exit", () => reject(new Error(`exited: ${buf}`)));
  });
  return { url, child };
}

async function rpc(url: string, method: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${url}/tokenpool.v1.TokenService/${method}`, { method: "POST", headers: { "content-type": "application/json", "x-api-password": PASSWORD }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
  return res.json();
}

const KA_IDS = Array.from({ length: 100 }, (_, i) => `ka-${i}`);
async function setup(url: string): Promise<void> {
  await rpc(url, "CreatePool", { name: "assign", leaseTtl: "2s", initialTokens: 60000 });
  await rpc(url, "CreatePool", { name: "ka", leaseTtl: "3600s" });
  await rpc(url, "GenerateTokens", { pool: "ka", tokens: KA_IDS });
  for (let i = 0; i < 100; i++) await rpc(url, "AssignToken", { pool: "ka", owner: "bench" });
}

const assign = create(AssignTokenRequestSchema, { pool: "assign", owner: "bench" });
const ka1 = create(KeepAliveRequestSchema, { pool: "ka", tokens: [KA_IDS[0]!] });
const ka100 = create(KeepAliveRequestSchema, { pool: "ka", tokens: KA_IDS });
const files = {
  "proto-assign": ["AssignToken", "application/proto", Buffer.from(toBinary(AssignTokenRequestSchema, assign))],
  "json-assign": ["AssignToken", "application/json", Buffer.from(toJsonString(AssignTokenRequestSchema, assign))],
  "proto-ka1": ["KeepAlive", "application/proto", Buffer.from(toBinary(KeepAliveRequestSchema, ka1))],
  "json-ka1": ["KeepAlive", "application/json", Buffer.from(toJsonString(KeepAliveRequestSchema, ka1))],
  "json-ka100": ["KeepAlive", "application/json", Buffer.from(toJsonString(KeepAliveRequestSchema, ka100))],
  "proto-ka100": ["KeepAlive", "application/proto", Buffer.from(toBinary(KeepAliveRequestSchema, ka100))],
} as const;
for (const [name, [, , body]] of Object.entries(files)) writeFileSync(`/tmp/ab-${name}.bin`, body);

const servers = { before: await start(TREES.before), after: await start(TREES.after) };
for (const s of Object.values(servers)) await setup(s.url);
const results: Record<string, Record<string, { rps: number[]; cpu: number[] }>> = {};
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? (["before", "after"] as const) : (["after", "before"] as const);
  for (const [row, [method, ctype]] of Object.entries(files)) {
    for (const which of order) {
      const s = servers[which];
      const pid = s.child.pid!;
      const opts = { url: `${s.url}/tokenpool.v1.TokenService/${method}`, bodyFile: `/tmp/ab-${row}.bin`, headers: { "content-type": ctype, "x-api-password": PASSWORD }, connections: 8, streams: 16 };
      await h2load({ ...opts, seconds: 1 });
      const c0 = cpuMs(pid);
      const out = await h2load({ ...opts, seconds: SECONDS });
      const cpu = ((cpuMs(pid) - c0) * 1000) / Math.max(1, out.requests);
      if (out.errors > 0) console.error(`${which} ${row}: ${out.errors} errors`);
      ((results[row] ??= {})[which] ??= { rps: [], cpu: [] }).rps.push(out.rps);
      results[row]![which]!.cpu.push(cpu);
      console.error(`round ${r + 1} ${row} ${which}: ${Math.round(out.rps)} rps, ${Math.round(cpu)} us CPU/call`);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log("row | before rps | after rps | after/before rps | before CPU us | after CPU us | before/after CPU");
for (const [row, r] of Object.entries(results)) {
  const b = r.before!, a = r.after!;
  console.log(`${row} | ${Math.round(median(b.rps))} | ${Math.round(median(a.rps))} | ${(median(a.rps) / median(b.rps)).toFixed(2)} | ${Math.round(median(b.cpu))} | ${Math.round(median(a.cpu))} | ${(median(b.cpu) / median(a.cpu)).toFixed(2)}`);
}
for (const s of Object.values(servers)) s.child.kill("SIGTERM");
