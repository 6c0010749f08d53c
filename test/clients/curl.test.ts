// The curl binary against the real server, running the commands of README.md and docs/CLIENTS.md as
// written there (extracted, so the docs cannot drift from the server): Connect JSON unary over
// HTTP/1.1 and h2c, every call of the API walkthrough, the WatchLeases stream snippet, the `buf curl`
// lines, and errors as curl sees them.

import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient, type TestClient } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";
import { splitEnvelopes } from "../harness/envelope.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const README_ORIGIN = "http://127.0.0.1:8080";

/** A markdown file's ```sh blocks, as logical lines (backslash continuations joined). */
const shBlocks = (file: string): string[][] =>
  [...readFileSync(join(ROOT, file), "utf8").matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, " ").split("\n"));
const SH_BLOCKS = shBlocks("README.md");
const blockWith = (text: string): string[] => {
  const block = SH_BLOCKS.find((lines) => lines.some((l) => l.includes(text)));
  if (!block) throw new Error(`README has no sh block with ${text}`);
  return block;
};

let s: TestServer;
let client: TestClient;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "1"]);
  client = connectClient(s.url, s.password, "grpc-h2");
});
afterAll(async () => {
  client?.close();
  await s?.close();
});

/** Runs README shell lines against the test server, with $PW set as the README tells the reader to. */
async function sh(script: string): Promise<string> {
  const { stdout } = await run("bash", ["-c", script.replaceAll(README_ORIGIN, s.url)], {
    env: { PATH: process.env.PATH, PW: s.password },
    timeout: 20_000,
  });
  return stdout;
}

describe("curl with the README's commands", () => {
  it("runs the quick-start AssignToken call, over HTTP/1.1 and over h2c", async () => {
    const [command, ...rest] = blockWith("export PW=").filter((l) => l.startsWith("curl "));
    expect(rest).toEqual([]);
    expect(command).toContain(`-d '{"pool":"default","owner":"me"}' ${README_ORIGIN}/tokenpool.v1.TokenService/AssignToken`);
    for (const variant of [command!, command!.replace("curl ", "curl --http2-prior-knowledge ")]) {
      const { lease } = JSON.parse(await sh(variant)) as { lease: { pool: string; owner: string; token: string; generation: string; leaseTtl: string } };
      expect(lease).toMatchObject({ pool: "default", owner: "me", leaseTtl: "60s" });
      expect(Number(lease.generation)).toBeGreaterThan(0);
      await client.unary("releaseToken", { pool: "default", token: lease.token });
    }
  });

  it("runs every call of the API walkthrough without an error", async () => {
    const block = blockWith(`U=${README_ORIGIN}/tokenpool.v1.TokenService`);
    const prelude = block.filter((l) => /^(H|U)=/.test(l)).join("\n");
    const calls = block.filter((l) => l.startsWith('curl -s "${H[@]}"'));
    expect(calls.length).toBeGreaterThanOrEqual(10);
    let token: string | undefined;
    for (const call of calls) {
      // The walkthrough names the leased token TOKEN; use the one the first AssignToken got.
      const out = await sh(`${prelude}\n${token ? call.replaceAll("TOKEN", token) : call}`);
      const body = JSON.parse(out) as { code?: string; lease?: { token: string } };
      expect(body.code, `${call} → ${out}`).toBeUndefined();
      if (!token && call.includes("/AssignToken")) token = body.lease?.token;
    }
    expect(token).toBeDefined();
  });

  it("runs the gang, quota, listing and cordon calls as the README shows them, with the answers it shows", async () => {
    const prelude = blockWith(`U=${README_ORIGIN}/tokenpool.v1.TokenService`).filter((l) => /^(H|U)=/.test(l)).join("\n");
    const calls = blockWith("$U/AssignTokens").filter((l) => l.startsWith('curl -s "${H[@]}"'));
    expect(calls.map((c) => /\$U\/(\w+)/.exec(c)![1])).toEqual([
      "CreatePool", "AssignTokens", "AssignToken", "UpdatePool", "ListTokens", "CordonToken", "GetPool", "UncordonToken",
    ]);
    type Reply = { code?: string; details?: { debug?: { reason?: string; metadata?: Record<string, string> } }[]; leases?: { token: string }[]; tokens?: unknown[]; nextPageToken?: string; pool?: { cordoned?: number; maxLeasesPerOwner?: number; leaseTtl?: string } };
    const out: Reply[] = [];
    let token = "A";
    for (const call of calls) {
      const reply = JSON.parse(await sh(`${prelude}\n${call.replace(/#.*$/, "").replaceAll('"A"', `"${token}"`)}`)) as Reply;
      out.push(reply);
      if (reply.leases) token = reply.leases[0]!.token;
    }
    const [created, gang, overQuota, updated, listed, , got] = out;
    expect(created!.pool).toMatchObject({ maxLeasesPerOwner: 3 });
    expect(gang!.leases).toHaveLength(3);
    expect(overQuota!.code).toBe("resource_exhausted");
    expect(overQuota!.details?.[0]?.debug).toMatchObject({ reason: "OWNER_QUOTA_EXCEEDED", metadata: { limit: "3", used: "3", requested: "1" } });
    expect(updated!.pool).toMatchObject({ maxLeasesPerOwner: 4, leaseTtl: "120s" });
    expect(listed!.tokens).toHaveLength(2);
    expect(listed!.nextPageToken).toBeTruthy();
    expect(got!.pool).toMatchObject({ cordoned: 1 });
    for (const r of [created, gang, updated, listed, got, out[5], out[7]]) expect(r!.code).toBeUndefined();
  });

  it("streams WatchLeases with the printf | curl snippet", async () => {
    const block = blockWith("$U/WatchLeases");
    const script = block.filter((l) => /^(U|BODY)=/.test(l) || l.includes("$U/WatchLeases")).join("\n");
    const pool = (/"pool":"([^"]+)"/.exec(block.find((l) => l.startsWith("BODY="))!) ?? [])[1]!;
    await client.unary("createPool", { name: pool, initialTokens: 1 });
    const curl = spawn("bash", ["-c", script.replaceAll(README_ORIGIN, s.url)], { env: { PATH: process.env.PATH, PW: s.password }, detached: true });
    let raw = Buffer.alloc(0);
    curl.stdout.on("data", (chunk: Buffer) => (raw = Buffer.concat([raw, chunk])));
    try {
      // The snippet watches live events only: lease and release until one reaches the stream.
      const deadline = Date.now() + 10_000;
      while (!raw.includes("LEASE_EVENT_TYPE_RELEASED") && Date.now() < deadline) {
        const { lease } = (await client.unary("assignToken", { pool, owner: "readme" })) as { lease: { token: string } };
        await client.unary("releaseToken", { pool, token: lease.token });
        await sleep(100);
      }
    } finally {
      process.kill(-curl.pid!, "SIGTERM");
    }
    type Message = { event?: { type: string; pool: string; owner: string } };
    const frames = splitEnvelopes(raw).frames.map((f) => ({ flags: f.flags, json: JSON.parse(f.data.toString("utf8")) as Message }));
    const events = frames.map((f) => f.json.event).filter((e) => e !== undefined);
    expect(frames.every((f) => f.flags === 0)).toBe(true);
    expect(events.map((e) => e.type)).toContain("LEASE_EVENT_TYPE_RELEASED");
    expect(events.every((e) => e.pool === pool && e.owner === "readme")).toBe(true);
  });
});

describe("docs/CLIENTS.md", () => {
  it("runs every curl and buf curl command on the page", async () => {
    const commands = shBlocks("docs/CLIENTS.md").flat().filter((l) => /^(curl|npx buf curl) /.test(l));
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const command of commands) {
      const r = await run("bash", ["-c", command], {
        cwd: ROOT,
        env: { ...process.env, TOKENPOOL_URL: s.url, TOKENPOOL_PASSWORD: s.password },
        timeout: 30_000,
      }).then(
        ({ stdout }) => ({ ok: true, out: stdout }),
        (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
      );
      if (command.includes("--timeout")) {
        // An endless stream, cut by its deadline: what matters is what it printed before.
        expect(r.out, command).toContain('"type": "LEASE_EVENT_TYPE_ASSIGNED"');
      } else {
        expect(r.ok, `${command}\n${r.out}`).toBe(true);
      }
      // Give back what a command leased, so the next one finds a free token.
      const token = /"token":\s*"([^"]+)"/.exec(r.out)?.[1];
      if (command.includes("/AssignToken") && token) await client.unary("releaseToken", { pool: "default", token });
    }
  });
});

describe("curl and Connect errors", () => {
  const call = async (method: string, body: string, password?: string) => {
    const { stdout } = await run("curl", [
      "-s", "-w", "\n%{http_code}",
      "-H", "content-type: application/json",
      ...(password ? ["-H", `x-api-password: ${password}`] : []),
      "-d", body, `${s.url}/tokenpool.v1.TokenService/${method}`,
    ], { timeout: 20_000 });
    const at = stdout.lastIndexOf("\n");
    return { status: Number(stdout.slice(at + 1)), body: JSON.parse(stdout.slice(0, at)) as { code: string; message: string; details: Array<{ type: string; value: string }> } };
  };
  const reasonOf = (details: Array<{ type: string; value: string }>): string | undefined => {
    const info = details.find((d) => d.type === "google.rpc.ErrorInfo");
    // ErrorInfo's field 1 (reason) is the first thing in the message: tag 0x0a, a length, the bytes.
    const bytes = info && Buffer.from(info.value, "base64");
    return bytes && bytes[0] === 0x0a ? bytes.subarray(2, 2 + bytes[1]!).toString("utf8") : undefined;
  };

  it("answers 401 unauthenticated without the password", async () => {
    const r = await call("GetPool", '{"name":"default"}');
    expect(r.status).toBe(401);
    expect(r.body.code).toBe("unauthenticated");
    expect(reasonOf(r.body.details)).toBe("UNAUTHENTICATED");
  });

  it("answers 404 with reason POOL_EXHAUSTED when no token is free", async () => {
    const held = (await client.unary("assignToken", { pool: "default", owner: "holder" })) as { lease: { token: string } };
    try {
      const r = await call("AssignToken", '{"pool":"default","owner":"me"}', s.password);
      expect(r.status).toBe(404);
      expect(r.body.code).toBe("not_found");
      expect(reasonOf(r.body.details)).toBe("POOL_EXHAUSTED");
    } finally {
      await client.unary("releaseToken", { pool: "default", token: held.lease.token });
    }
  });
});
