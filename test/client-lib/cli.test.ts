// The `tokenpool` CLI as a user runs it (bin/tokenpool.js, a real process) against a real server:
// tables and --json, assign holding a lease past its TTL and releasing on --for or Ctrl-C, watch
// printing one line per event, and errors as "CODE REASON: message" with a non-zero exit.

import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, type ServerProcess } from "../harness/server-process.js";
import { TokenState, type TokenPoolClient } from "../../src/client/node.js";
import { client, freshPool, PASSWORD, serverProcess, sleep } from "./fixtures.js";

const run = promisify(execFile);
let s: ServerProcess;
let admin: TokenPoolClient;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  s = await serverProcess();
  admin = client(s.url);
  env = { PATH: process.env.PATH, TOKENPOOL_URL: s.url, TOKENPOOL_PASSWORD: PASSWORD };
});
afterAll(async () => {
  await admin?.close();
  await s?.stop();
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["bin/tokenpool.js", ...args], { cwd: ROOT, env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("tokenpool CLI", () => {
  it("creates, lists, shows and removes pools, as a table and as JSON", async () => {
    const name = `cli-${process.pid}`;
    const created = await cli("pools", "create", name, "--lease-ttl", "30s", "--tokens", "3", "--max-tokens", "10");
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(new RegExp(`^NAME +TOTAL +AVAILABLE.*\\n${name} +3 +3 +0 +0 +30s`));
    const listed = await cli("--json", "pools", "ls");
    const pools = listed.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; maxTokens: number });
    expect(pools.find((p) => p.name === name)).toMatchObject({ maxTokens: 10 });
    expect((await cli("pools", "get", name)).stdout).toContain(name);
    expect((await cli("pools", "rm", name)).stdout).toBe(`deleted pool ${name}\n`);
    const gone = await cli("pools", "get", name);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`NOT_FOUND POOL_NOT_FOUND: pool "${name}" not found\n`);
  });

  it("generates, shows and removes tokens", async () => {
    const pool = await freshPool(admin, 0, 5000);
    expect((await cli("tokens", "gen", pool, "gpu-1", "gpu-2")).stdout).toBe("gpu-1\ngpu-2\n(2 available)\n");
    const gen = JSON.parse((await cli("--json", "tokens", "gen", pool, "--count", "2")).stdout) as { tokens: string[]; available: number };
    expect(gen.tokens).toHaveLength(2);
    expect(gen.available).toBe(4);
    const shown = JSON.parse((await cli("--json", "tokens", "get", pool, "gpu-1")).stdout) as { token: string; state: string };
    expect(shown).toMatchObject({ token: "gpu-1", state: "TOKEN_STATE_FREE" });
    expect((await cli("tokens", "rm", pool, "gpu-1")).code).toBe(0);
    expect((await cli("tokens", "get", pool, "gpu-1")).stderr).toMatch(/^NOT_FOUND TOKEN_NOT_FOUND: /);
  });

  it.each(["connect", "grpc", "grpc-web"])("assign over %s keeps the lease past its TTL, then releases it after --for", async (protocol) => {
    const pool = await freshPool(admin, 1, 1000);
    const holding = cli("--protocol", protocol, "--json", "assign", pool, "--owner", "cli-job", "--for", "3s");
    await sleep(2500); // 2.5 TTLs: only keep-alives explain a lease still held now
    const [only] = (await admin.service.listPools({})).pools.filter((p) => p.name === pool);
    expect(only?.held).toBe(1);
    const done = await holding;
    expect(done.code).toBe(0);
    const [lease, released] = done.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    expect(lease).toMatchObject({ pool, owner: "cli-job", generation: "1" });
    expect(released).toMatchObject({ released: lease!.token, generation: "1" });
    expect((await admin.service.getToken({ pool, token: lease!.token! })).state).toBe(TokenState.FREE);
  });

  it("assign releases on Ctrl-C", async () => {
    const pool = await freshPool(admin, 1, 5000);
    const child = spawn(process.execPath, ["bin/tokenpool.js", "assign", pool, "--owner", "ctrl-c"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    while (!/ctrl-c +1 /.test(out)) await sleep(50);
    expect((await admin.service.getPool({ name: pool })).pool?.held).toBe(1);
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(out).toMatch(/released \S+ \(generation 1\)/);
    expect((await admin.service.getPool({ name: pool })).pool?.held).toBe(0);
  });

  it("tokens drain cordons a held token and returns once its lease ends; --wait bounds it", async () => {
    const pool = await freshPool(admin, 1, 30_000);
    const { lease } = await admin.service.assignToken({ pool, owner: "busy" });
    const token = lease!.token;
    const timedOut = await cli("tokens", "drain", pool, token, "--wait", "1s");
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toContain(`token ${token} is still held after --wait 1s; it stays cordoned`);
    let finished = false;
    const draining = cli("--json", "tokens", "drain", pool, token, "--wait", "20s").finally(() => (finished = true));
    await new Promise((r) => setTimeout(r, 1500));
    expect(finished).toBe(false);
    await admin.service.releaseToken({ pool, token });
    const drained = await draining;
    expect(drained.code).toBe(0);
    expect(JSON.parse(drained.stdout)).toEqual({ drained: token, pool });
    expect((await admin.service.getToken({ pool, token })).cordoned).toBe(true);
    expect((await admin.service.getPool({ name: pool })).pool).toMatchObject({ available: 0, cordoned: 1 });
    // Already free and cordoned: drained at once; uncordon puts it back.
    expect((await cli("tokens", "drain", pool, token)).stdout).toBe(`drained ${token}: cordoned and not held\n`);
    expect((await cli("tokens", "uncordon", pool, token)).stdout).toBe(`uncordoned ${token}\n`);
    expect((await admin.service.getPool({ name: pool })).pool).toMatchObject({ available: 1, cordoned: 0 });
  }, 60_000);

  it("release is fenced: a wrong generation is refused with its reason", async () => {
    const pool = await freshPool(admin, 1, 30_000);
    const { lease } = await admin.service.assignToken({ pool, owner: "other" });
    const refused = await cli("release", pool, lease!.token, "--generation", String(lease!.generation + 1n));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^FAILED_PRECONDITION LEASE_MISMATCH: /);
    const ok = await cli("release", pool, lease!.token, "--generation", String(lease!.generation), "--owner", "other");
    expect(ok.stdout).toBe(`released ${lease!.token} (1 available)\n`);
  });

  it("watch prints one line per event, NDJSON with --json", async () => {
    const pool = await freshPool(admin, 0, 5000);
    await admin.service.generateTokens({ pool, tokens: ["w-1"] });
    await admin.service.assignToken({ pool, owner: "watcher-test" });
    const text = await cli("watch", pool, "--after", "0", "--for", "2s");
    const nd = cli("--json", "watch", pool, "--after", "1", "--for", "3s");
    await sleep(1500);
    await admin.service.releaseToken({ pool, token: "w-1" });
    const lines = (await nd).stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; token: string; sequence: string });
    expect(lines.map((l) => l.type)).toEqual(["LEASE_EVENT_TYPE_ASSIGNED", "LEASE_EVENT_TYPE_RELEASED"]);
    expect(lines.map((l) => l.sequence)).toEqual(["2", "3"]);
    expect(text.code).toBe(0);
    // --after 0: from the pool's first event (then live; nothing else happened in its 2 s before the release).
    expect(text.stdout).toMatch(/^1 +\S+ +GENERATED +w-1 *\n2 +\S+ +ASSIGNED +w-1 +watcher-test +gen 1\n$/);
  });

  it("says what is wrong: bad password, bad command line", async () => {
    const denied = await cli("--password", "wrong", "pools", "ls");
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^UNAUTHENTICATED UNAUTHENTICATED: /);
    const usage = await cli("pools", "explode");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("unknown subcommand explode");
    expect((await cli("assign", "p", "--for", "soon")).stderr).toContain("--for: not a duration: soon");
  });
});
