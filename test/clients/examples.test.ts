// Runs every example under examples/ against a live server, so they cannot rot: the grpc-js lease
// holder, the Connect client, the curl scripts, and a Python grpcio client with stubs generated here.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = "/usr/bin/python3"; // Debian's, which has python3-grpcio and python3-grpc-tools

let s: TestServer;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "2"]);
  env = { PATH: process.env.PATH, TOKENPOOL_URL: s.url, TOKENPOOL_PASSWORD: s.password };
});
afterAll(async () => {
  await s.close();
});

const node = (file: string, ...args: string[]) => run(process.execPath, ["--import", "tsx", file, ...args], { cwd: ROOT, env, timeout: 30_000 });

describe("examples", () => {
  it("grpc-js + ts-proto: holds a lease with keep-alives, then releases it", async () => {
    const { stdout } = await node("examples/grpc-js/hold-lease.ts", "--seconds", "1.5", "--ttl", "1");
    expect(stdout).toMatch(/^holding \S+ \(generation \d+\)/);
    expect(stdout.match(/renewed until/g)?.length).toBeGreaterThanOrEqual(3);
    expect(stdout).toContain("released");
    expect(stdout).not.toContain("lease expired");
  });

  it("connect-es: assigns, reads the ErrorInfo of an exhausted pool, releases", async () => {
    const { stdout } = await node("examples/connect/client.ts");
    expect(stdout).toContain("second assign: NotFound POOL_EXHAUSTED");
    expect(stdout).toContain("state held by connect-example");
    expect(stdout.trim().endsWith("done")).toBe(true);
  });

  it("curl: assign, keep alive and release with Connect JSON", async () => {
    const { stdout } = await run("bash", ["examples/curl/assign-release.sh"], { cwd: ROOT, env, timeout: 20_000 });
    expect(stdout).toMatch(/assign: \{"lease":\{"pool":"default"/);
    expect(stdout).toContain("KEEP_ALIVE_STATUS_OK");
    expect(stdout).toContain('release: {"available":2}');
  });

  it("curl: streams lease events", async () => {
    const watching = run("bash", ["-c", "timeout 3 examples/curl/watch.sh default; true"], { cwd: ROOT, env, timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 1000)); // let curl connect and subscribe
    await run("bash", ["examples/curl/assign-release.sh"], { cwd: ROOT, env, timeout: 20_000 });
    const { stdout } = await watching;
    const types = stdout.trim().split("\n").map((l) => (JSON.parse(l) as { event: { type: string } }).event.type);
    expect(types).toEqual(["LEASE_EVENT_TYPE_ASSIGNED", "LEASE_EVENT_TYPE_RENEWED", "LEASE_EVENT_TYPE_RELEASED"]);
  });

  it("Python grpcio: generated stubs assign, keep alive, read ErrorInfo, watch and release", async () => {
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
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
