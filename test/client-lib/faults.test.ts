// The proof against faults, with a real server process and real sockets: a stopped server, a
// stalling network path and a kill -9 + restart never leave a client believing in a lease the
// server may already have given away, and one client's 1 000 leases cost one KeepAlive per interval.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../harness/ports.js";
import type { ServerProcess } from "../harness/server-process.js";
import { LeaseLostError, TokenState, type Lease, type TokenPoolClient } from "../../src/client/node.js";
import { client, freshPool, rpcCount, serverProcess, sleep } from "./fixtures.js";
import { startStallProxy, type StallProxy } from "./stall-proxy.js";

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** When the signal aborted (wall clock) and the server's deadline the client knew at that moment. */
function watchAbort(lease: Lease): { at?: number; serverDeadline?: number } {
  const seen: { at?: number; serverDeadline?: number } = {};
  lease.signal.addEventListener("abort", () => {
    seen.at = Date.now();
    seen.serverDeadline = lease.expireTime.getTime();
  });
  return seen;
}

const kindOf = (l: Lease) => (l.signal.reason instanceof LeaseLostError ? l.signal.reason.kind : "none");

async function started(args: readonly string[] = []): Promise<{ s: ServerProcess; admin: TokenPoolClient }> {
  const s = await serverProcess(args);
  const admin = client(s.url);
  cleanups.push(() => s.stop(), () => admin.close());
  return { s, admin };
}

describe("server stopped (SIGSTOP) for longer than the TTL", () => {
  it("aborts the lease before the server could expire it; after SIGCONT only the new holder believes", async () => {
    const { s, admin } = await started();
    const pool = await freshPool(admin, 1, 2000);
    const a = client(s.url, { safetyMarginMs: 300 });
    cleanups.push(() => a.close());
    const leaseA = await a.acquire(pool, { owner: "A" });
    const abortA = watchAbort(leaseA);
    await sleep(800); // at least one renewal acknowledged
    s.child.kill("SIGSTOP");
    cleanups.push(() => void s.child.kill("SIGCONT"));
    await sleep(3000);
    expect(kindOf(leaseA)).toBe("unproven");
    expect(abortA.at).toBeDefined();
    // Before the server-side expiry, on the same machine's wall clock, with the margin to spare.
    expect(abortA.at!).toBeLessThan(abortA.serverDeadline!);
    s.child.kill("SIGCONT");

    const b = client(s.url);
    cleanups.push(() => b.close());
    const leaseB = await b.acquire(pool, { owner: "B", waitTimeoutMs: 5000 });
    expect(leaseB.token).toBe(leaseA.token); // the pool's only token
    expect(leaseB.generation).toBeGreaterThan(leaseA.generation); // fencing tells them apart
    expect(leaseA.isValid()).toBe(false); // A never believed again
    const t = await admin.service.getToken({ pool, token: leaseB.token });
    expect(t.lease).toMatchObject({ owner: "B", generation: leaseB.generation });
    await sleep(700);
    expect(leaseB.isValid()).toBe(true);
  });
});

describe("a network path that stalls", () => {
  let proxy: StallProxy;

  it("aborts when the stall outlasts TTL − margin, before the server's deadline: never a silent expiry", async () => {
    const { s, admin } = await started();
    proxy = await startStallProxy(Number(new URL(s.url).port));
    cleanups.push(() => proxy.close());
    const pool = await freshPool(admin, 1, 2000);
    const c = client(proxy.url, { safetyMarginMs: 300 });
    cleanups.push(() => c.close());
    const lease = await c.acquire(pool, { owner: "stalled" });
    const seen = watchAbort(lease);
    await sleep(800);
    proxy.stall();
    await sleep(2500);
    expect(kindOf(lease)).toBe("unproven");
    expect(seen.at!).toBeLessThan(seen.serverDeadline!);
    // The server still had it when the client let go: the abort came first.
    const t = await admin.service.getToken({ pool, token: lease.token });
    const stillHeldOrFree = t.state === TokenState.FREE || t.lease?.generation === lease.generation;
    expect(stillHeldOrFree).toBe(true);
    proxy.resume();
  });

  it("rides out a stall shorter than the proof's slack", async () => {
    const { s, admin } = await started();
    proxy = await startStallProxy(Number(new URL(s.url).port));
    cleanups.push(() => proxy.close());
    const pool = await freshPool(admin, 1, 4000);
    const c = client(proxy.url, { safetyMarginMs: 400 });
    cleanups.push(() => c.close());
    const lease = await c.acquire(pool, { owner: "patient" });
    await sleep(500);
    proxy.stall();
    await sleep(600);
    proxy.resume();
    await sleep(3000);
    expect(lease.signal.aborted).toBe(false);
    expect((await admin.service.getToken({ pool, token: lease.token })).lease?.generation).toBe(lease.generation);
  });
});

describe("kill -9 and restart on lmdb", () => {
  // A TTL about as long as a restart takes (leases given up unless the restart is quick) and one a restart rides out.
  it.each([
    [2000, 300],
    [6000, 500],
  ])("TTL %i ms: leases survive (server agrees) or abort with a reason, none believed wrongly", async (ttlMs, marginMs) => {
    const dir = mkdtempSync(join(tmpdir(), "tokenpool-client-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = String(await freePort());
    const args = ["--store", "lmdb", "--data-dir", dir, "--port", port, "--restart-grace", "10"];
    let s = await serverProcess(args);
    const c = client(s.url, { safetyMarginMs: marginMs });
    cleanups.push(() => c.close());
    const pool = await freshPool(c, 5, ttlMs);
    const leases = await Promise.all([0, 1, 2, 3, 4].map((i) => c.acquire(pool, { owner: `w${i}` })));
    await sleep(500);
    await s.kill9();
    s = await serverProcess(args);
    const restarted = s;
    cleanups.push(() => restarted.stop());
    await sleep(ttlMs + 500); // longer than the TTL: every lease was either re-proven or given up
    const admin = client(s.url);
    cleanups.push(() => admin.close());
    console.info(`TTL ${ttlMs} ms, after kill -9 + restart: ${leases.map((l) => (l.isValid() ? "alive" : kindOf(l))).join(", ")}`);
    for (const l of leases) {
      const t = await admin.service.getToken({ pool, token: l.token });
      if (l.isValid()) {
        expect(t.state).toBe(TokenState.HELD);
        expect(t.lease).toMatchObject({ owner: l.owner, generation: l.generation });
      } else {
        expect(["unproven", "not-held", "generation-changed", "token-gone"]).toContain(kindOf(l));
      }
    }
  });
});

describe("one client, 1 000 leases in one pool", () => {
  it("renews them all with one KeepAlive call per interval", async () => {
    const { s, admin } = await started();
    // A TTL the 1 000 acquires comfortably fit in on a loaded machine (with 3 s, stalls there lost leases
    // before the count began): interval ≈ (6000 − 300) / 3 = 1 900 ms.
    const pool = await freshPool(admin, 1000, 6000);
    const c = client(s.url, { safetyMarginMs: 300 });
    cleanups.push(() => c.close());
    const leases: Lease[] = [];
    for (let i = 0; i < 10; i++) leases.push(...(await Promise.all(Array.from({ length: 100 }, () => c.acquire(pool, { owner: "bulk" })))));
    expect(new Set(leases.map((l) => l.token)).size).toBe(1000);
    const before = await rpcCount(s.url, "KeepAlive");
    await sleep(9500);
    const calls = (await rpcCount(s.url, "KeepAlive")) - before;
    // ~5 intervals of 1 900 ms ± 10 % jitter; per-lease renewal would be ~5 000.
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(8);
    expect(leases.filter((l) => !l.isValid())).toEqual([]);
    expect((await admin.service.getPool({ name: pool })).pool?.held).toBe(1000);
  }, 60_000);
});
