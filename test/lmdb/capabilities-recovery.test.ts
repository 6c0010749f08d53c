// After kill -9, an lmdb server comes back with issue 17's state as it was: owner quotas (config and
// what each owner holds), cordons (free and held), gangs (a retry of the request id returns the same
// gang), and an UpdatePool'd config. Nothing of it is rebuilt by walking the pool: it is in the records.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { TokenState } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { duration, durationMs, tokenClient } from "../harness/token-client.js";
import { startServer, type ServerProcess } from "../harness/server-process.js";

const dirs: string[] = [];
const servers: ServerProcess[] = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function reasonOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof ConnectError ? e.message : String(e);
  }
}

describe("lmdb recovery of quotas, cordons and gangs", () => {
  it("comes back from kill -9 with the same quotas, cordons, gangs and updated config", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokenpool-cap-"));
    dirs.push(dir);
    const args = ["--store", "lmdb", "--data-dir", dir, "--api-password", "pw"];
    const first = await startServer(args);
    servers.push(first);
    const a = tokenClient(first.url, "pw");
    await a.createPool({ name: "gpus", leaseTtl: duration(600_000), idleTtl: duration(0), maxLeasesPerOwner: 3 });
    await a.generateTokens({ pool: "gpus", tokens: ["g0", "g1", "g2", "g3", "g4", "g5"] });
    const gang = await a.assignTokens({ pool: "gpus", owner: "job", count: 3, requestId: "try-1" });
    const gangTokens = gang.leases.map((l) => l.token).sort();
    const free = ["g0", "g1", "g2", "g3", "g4", "g5"].filter((t) => !gangTokens.includes(t));
    await a.cordonToken({ pool: "gpus", token: gangTokens[0]! });
    await a.cordonToken({ pool: "gpus", token: free[0]! });
    await a.updatePool({ name: "gpus", leaseTtl: duration(300_000) });
    const before = (await a.getPool({ name: "gpus" })).pool!;
    expect(before).toMatchObject({ total: 6, held: 3, available: 2, cordoned: 2, maxLeasesPerOwner: 3 });

    await first.kill9();
    const second = await startServer(args);
    servers.push(second);
    const b = tokenClient(second.url, "pw");
    const after = (await b.getPool({ name: "gpus" })).pool!;
    expect(after).toMatchObject({ total: 6, held: 3, available: 2, cordoned: 2, maxLeasesPerOwner: 3, generation: before.generation });
    expect(durationMs(after.leaseTtl)).toBe(300_000);
    // The owner's three leases still count against its quota.
    expect(await reasonOf(b.assignToken({ pool: "gpus", owner: "job" }))).toContain("over its quota of 3");
    // A retry of the gang's request returns the same gang.
    const retry = await b.assignTokens({ pool: "gpus", owner: "job", count: 3, requestId: "try-1" });
    expect(retry.leases.map((l) => l.token).sort()).toEqual(gangTokens);
    expect(retry.leases.map((l) => l.generation).sort()).toEqual(gang.leases.map((l) => l.generation).sort());
    const cordoned = await b.listTokens({ pool: "gpus", state: TokenState.CORDONED });
    expect(cordoned.tokens.map((t) => t.token).sort()).toEqual([gangTokens[0]!, free[0]!].sort());
    expect(cordoned.tokens.find((t) => t.token === gangTokens[0])).toMatchObject({ state: TokenState.HELD, cordoned: true });
    // The cordoned free token is still out of service: two assigns take the two others, a third finds none.
    await b.assignToken({ pool: "gpus", owner: "x" });
    await b.assignToken({ pool: "gpus", owner: "y" });
    expect(await reasonOf(b.assignToken({ pool: "gpus", owner: "z" }))).toContain("no free token");
    expect(await second.stop()).toBe(0);
  }, 120_000);
});
