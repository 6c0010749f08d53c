// A graceful stop (SIGTERM) and start on the same data dir gives back identical state: pools, tokens,
// holders, deadlines, generations and sequences (restart grace 0, so deadlines are kept as stored).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { duration, tokenClient, type TokenClient } from "../harness/token-client.js";
import { startServer, type ServerProcess } from "../harness/server-process.js";

const PASSWORD = "restart-test-password";
const dirs: string[] = [];
const servers: ServerProcess[] = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dir: string): Promise<ServerProcess> {
  const s = await startServer(["--store", "lmdb", "--data-dir", dir, "--api-password", PASSWORD, "--restart-grace", "0", "--total-tokens", "3"]);
  servers.push(s);
  return s;
}

/** Every pool and every token of every pool, as the API shows them. */
async function state(client: TokenClient, tokens: Record<string, string[]>): Promise<unknown> {
  const pools = (await client.listPools({ pageSize: 1000 })).pools.map((p) => ({ ...p }));
  const out: Record<string, unknown> = { pools };
  for (const [pool, ids] of Object.entries(tokens)) {
    for (const token of ids) {
      out[`${pool}/${token}`] = await client.getToken({ pool, token }).then(
        (t) => ({ state: t.state, lease: t.lease && { ...t.lease }, idle: t.idleExpireTime && { ...t.idleExpireTime } }),
        (e: unknown) => String(e),
      );
    }
  }
  return out;
}

describe("lmdb graceful restart", () => {
  it("comes back with identical state after SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokenpool-restart-"));
    dirs.push(dir);
    let server = await start(dir);
    let client = tokenClient(server.url, PASSWORD);
    const tokens: Record<string, string[]> = {};
    for (const name of ["alpha", "beta"]) {
      await client.createPool({ name, leaseTtl: duration(120_000), idleTtl: duration(600_000), maxTokens: 50 });
      tokens[name] = (await client.generateTokens({ pool: name, count: 8 })).tokens;
      for (let i = 0; i < 5; i++) await client.assignToken({ pool: name, owner: `${name}-owner-${i}`, requestId: `r${i}` });
    }
    const held = (await client.assignToken({ pool: "alpha", owner: "releaser" })).lease!;
    await client.releaseToken({ pool: "alpha", token: held.token, generation: held.generation });
    await client.keepAlive({ pool: "beta", tokens: tokens.beta!.slice(0, 4) });
    await client.deleteToken({ pool: "beta", token: tokens.beta![7]! });
    await client.createPool({ name: "gone", initialTokens: 2 });
    await client.deletePool({ name: "gone" });
    const before = await state(client, tokens);

    expect(await server.stop()).toBe(0);
    server = await start(dir);
    client = tokenClient(server.url, PASSWORD);
    expect(await state(client, tokens)).toEqual(before);
    // Idempotent retries still find their leases.
    const again = (await client.assignToken({ pool: "alpha", owner: "alpha-owner-2", requestId: "r2" })).lease!;
    expect((await client.getToken({ pool: "alpha", token: again.token })).lease?.owner).toBe("alpha-owner-2");
    expect(await server.stop()).toBe(0);
  }, 60_000);
});
