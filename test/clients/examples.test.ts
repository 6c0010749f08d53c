// Runs every example under examples/ against a live server, so they cannot rot: the grpc-js lease
// holder (including losing its lease), the Connect client, the curl scripts, and a Python grpcio
// client with stubs generated here.

import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient, type TestClient } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = "/usr/bin/python3"; // Debian's, which has python3-grpcio and python3-grpc-tools

let s: TestServer;
let client: TestClient;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "2"]);
  client = connectClient(s.url, s.password, "grpc-h2");
  env = { PATH: process.env.PATH, TOKENPOOL_URL: s.url, TOKENPOOL_PASSWORD: s.password };
});
afterAll(async () => {
  client?.close();
  await s?.close();
});

const node = (file: string, ...args: string[]) => run(process.execPath, ["--import", "tsx", file, ...args], { cwd: ROOT, env, timeout: 30_000 });
const bash = (script: string, ...args: string[]) => run("bash", [script, ...args], { cwd: ROOT, env, timeout: 20_000 });

/** A running example whose output can be awaited line by line. */
function start(file: string, ...args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", file, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const waiters: Array<() => void> = [];
  const collect = (chunk: Buffer) => {
    out += chunk.toString("utf8");
    waiters.splice(0).forEach((w) => w());
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
      for (;;) {
        const m = out.match(pattern);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`exited before ${pattern}: ${out}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

async function freshPool(): Promise<string> {
  const name = `ex-${Math.random().toString(36).slice(2, 10)}`;
  await client.unary("createPool", { name, initialTokens: 1 });
  return name;
}

describe("examples/grpc-js/hold-lease.ts", () => {
  it("holds a lease with keep-alives, then releases it", async () => {
    const { stdout } = await node("examples/grpc-js/hold-lease.ts", "--seconds", "1.5", "--ttl", "1");
    expect(stdout).toMatch(/^holding \S+ \(generation \d+\)/);
    expect(stdout.match(/renewed until/g)?.length).toBeGreaterThanOrEqual(3);
    expect(stdout).toContain("released");
    expect(stdout).not.toContain("lost the lease");
    expect((await client.unary("getPool", { name: "default" })).pool).toMatchObject({ available: 2 });
  });

  it("releases on SIGINT", async () => {
    const pool = await freshPool();
    const p = start("examples/grpc-js/hold-lease.ts", "--pool", pool, "--seconds", "60");
    await p.waitFor(/^holding /m);
    p.child.kill("SIGINT");
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain("released");
    expect((await client.unary("getPool", { name: pool })).pool).toMatchObject({ available: 1 });
  });

  it("notices from its watch that someone else released its token, and exits 3", async () => {
    const pool = await freshPool();
    const p = start("examples/grpc-js/hold-lease.ts", "--pool", pool, "--seconds", "60");
    // No wait for the watch to subscribe: it replays from before the assignment.
    const [, token] = await p.waitFor(/^holding (\S+) /m);
    await client.unary("releaseToken", { pool, token: token! });
    expect(await p.exited).toBe(3);
    expect(p.output()).toContain(`lost the lease: released by someone else; stop using ${token}`);
  });

  it("notices that its lease expired while the process was stalled, and exits 3", async () => {
    const pool = await freshPool();
    const p = start("examples/grpc-js/hold-lease.ts", "--pool", pool, "--ttl", "1", "--seconds", "60");
    await p.waitFor(/renewed until/);
    // A stall longer than the TTL (think GC pause or a frozen VM): no keep-alive gets out.
    p.child.kill("SIGSTOP");
    await sleep(2500);
    p.child.kill("SIGCONT");
    expect(await p.exited).toBe(3);
    expect(p.output()).toMatch(/lost the lease: (it expired|keep-alive found no lease of ours)/);
    expect(p.output()).not.toContain("released\n");
  });
});

describe("examples/connect/client.ts", () => {
  it("assigns, reads the ErrorInfo of an exhausted pool, releases", async () => {
    const { stdout } = await node("examples/connect/client.ts");
    expect(stdout).toContain("second assign: NotFound POOL_EXHAUSTED");
    expect(stdout).toContain("state held by connect-example");
    expect(stdout.trim().endsWith("done")).toBe(true);
  });
});

describe("examples/curl", () => {
  it("assign.sh: the README's AssignToken call with Connect JSON", async () => {
    const { stdout } = await bash("examples/curl/assign.sh");
    const { lease } = JSON.parse(stdout) as { lease: { pool: string; token: string; owner: string; generation: string; expireTime: string } };
    expect(lease).toMatchObject({ pool: "default", owner: "me" });
    expect(Number(lease.generation)).toBeGreaterThan(0);
    expect(Date.parse(lease.expireTime)).toBeGreaterThan(Date.now());
    await client.unary("releaseToken", { pool: "default", token: lease.token });
  });

  it("assign-release.sh: assign, keep alive and release", async () => {
    const { stdout } = await bash("examples/curl/assign-release.sh");
    expect(stdout).toMatch(/assign: \{"lease":\{"pool":"default"/);
    expect(stdout).toContain("KEEP_ALIVE_STATUS_OK");
    expect(stdout).toContain('release: {"available":2}');
  });

  it("watch.sh: streams lease events, replayed from a sequence", async () => {
    const { pool } = await client.unary("getPool", { name: "default" });
    const after = String((pool as { sequence?: string }).sequence ?? "0");
    await bash("examples/curl/assign-release.sh");
    // The stream stays open for live events after the replay: timeout ends it.
    const { stdout } = await run("bash", ["-c", `timeout 3 examples/curl/watch.sh default ${after}; true`], { cwd: ROOT, env, timeout: 20_000 });
    const events = stdout.trim().split("\n").map((l) => (JSON.parse(l) as { event: { type: string; sequence: string } }).event);
    expect(events.map((e) => e.type)).toEqual(["LEASE_EVENT_TYPE_ASSIGNED", "LEASE_EVENT_TYPE_RENEWED", "LEASE_EVENT_TYPE_RELEASED"]);
    expect(events.map((e) => Number(e.sequence))).toEqual([1, 2, 3].map((i) => Number(after) + i));
  });
});

describe("examples/python/client.py", () => {
  it("generated grpcio stubs: assign, keep alive, read ErrorInfo, release, replay events", async () => {
    const out = mkdtempSync(join(tmpdir(), "tokenpool-py-"));
    try {
      await run(
        PYTHON,
        ["-m", "grpc_tools.protoc", "-I", "proto", `--python_out=${out}`, `--grpc_python_out=${out}`, "proto/tokenpool/v1/token_service.proto", "proto/google/rpc/error_details.proto", "proto/google/rpc/status.proto"],
        { cwd: ROOT, timeout: 30_000 },
      );
      const { stdout } = await run(PYTHON, ["examples/python/client.py"], { cwd: ROOT, env: { ...env, PYTHONPATH: out }, timeout: 30_000 });
      expect(stdout).toMatch(/assigned \S+ generation 1/);
      expect(stdout).toContain("keep-alive KEEP_ALIVE_STATUS_OK");
      expect(stdout).toContain("second assign: NOT_FOUND POOL_EXHAUSTED");
      expect(stdout).toContain("events LEASE_EVENT_TYPE_ASSIGNED LEASE_EVENT_TYPE_RENEWED LEASE_EVENT_TYPE_RELEASED");
      expect(stdout).toContain("after delete: NOT_FOUND POOL_NOT_FOUND");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
