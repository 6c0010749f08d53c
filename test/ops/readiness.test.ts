// Readiness flips for real: not ready while a large lmdb data dir is recovered (liveness answers
// meanwhile, calls get UNAVAILABLE), while lmdb refuses writes after a failed commit, and while a real
// redis-server is down; ready again once each is over. Store metrics move with real commits and expiries.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/es/grpc/health/v1/health_pb.js";
import { loadConfig } from "../../src/config/config.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { openLmdbStore } from "../../src/store/lmdb/lmdb-store.js";
import { connectClient } from "../harness/clients.js";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { sleep } from "../harness/sleep.js";

const PASSWORD = "ops-readiness-pw";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-ops-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function start(flags: readonly string[], onListening?: (url: string) => void): Promise<RunningServer> {
  const config = loadConfig(["--port", "0", "--host", "127.0.0.1", "--api-password", PASSWORD, "--log-level", "silent", "--shutdown-grace", "1", ...flags], {});
  if (config === "help") throw new Error("unexpected --help");
  return startServer(config, {
    clock: systemClock,
    log: createLogger("silent"),
    announcePassword: () => undefined,
    ...(onListening && { onListening }),
  });
}

const readyz = async (url: string): Promise<{ status: number; reason?: string }> => {
  const res = await fetch(`${url}/readyz`);
  const body = (await res.json()) as { reason?: string };
  return { status: res.status, ...(body.reason !== undefined && { reason: body.reason }) };
};

const scrape = async (url: string): Promise<string> => (await fetch(`${url}/metrics`)).text();
const count = (text: string, name: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ").pop()) : 0;
};

describe("readiness while lmdb recovers", () => {
  it("answers /healthz, reports not ready and refuses calls until the data dir is loaded", async () => {
    const dir = tempDir();
    const TOKENS = 50_000;
    const seed = openLmdbStore({ dataDir: dir, restartGraceMs: 0, clock: systemClock, log: createLogger("silent"), events: { ringSize: 10, subscriberBuffer: 10 } });
    expect((await seed.createPool("big", { maxTokens: TOKENS, idleTtlMs: 0 }, TOKENS)).ok).toBe(true);
    await seed.close();

    const seen = { readyz: [] as number[], reasons: new Set<string>(), healthz: [] as number[], rpc: [] as number[] };
    let started = false;
    let probing: Promise<void> = Promise.resolve();
    const t0 = performance.now();
    const server = await start(["--store", "lmdb", "--data-dir", dir], (url) => {
      // In the same process as the recovery: these are answered in the gaps the loader leaves.
      probing = (async () => {
        while (!started) {
          const ready = await readyz(url);
          seen.readyz.push(ready.status);
          if (ready.reason !== undefined) seen.reasons.add(ready.reason);
          seen.healthz.push((await fetch(`${url}/healthz`)).status);
          const rpc = await fetch(`${url}/tokenpool.v1.TokenService/GetPool`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-api-password": PASSWORD },
            body: JSON.stringify({ name: "big" }),
          });
          seen.rpc.push(rpc.status);
        }
      })();
    });
    started = true;
    await probing;
    cleanups.push(() => server.close());
    const recoveryMs = performance.now() - t0;

    /** Statuses that went 503 (not ready / UNAVAILABLE) first and 200 after, never back. */
    const flipsOnce = (statuses: number[]): boolean => {
      const ready = statuses.indexOf(200);
      return statuses.every((x, i) => x === (ready === -1 || i < ready ? 503 : 200));
    };
    expect(seen.readyz.filter((x) => x === 503).length, `no probe answered during a ${recoveryMs.toFixed(0)} ms recovery`).toBeGreaterThan(0);
    expect(flipsOnce(seen.readyz), String(seen.readyz)).toBe(true);
    expect([...seen.reasons].every((r) => /^store lmdb: recovering stored state from /.test(r)), [...seen.reasons].join()).toBe(true);
    expect(new Set(seen.healthz)).toEqual(new Set([200]));
    // Calls during recovery get UNAVAILABLE (503 is Connect's HTTP status for it).
    expect(seen.rpc[0]).toBe(503);
    expect(flipsOnce(seen.rpc), String(seen.rpc)).toBe(true);
    expect(await readyz(server.url)).toEqual({ status: 200 });
    const pool = await connectClient(server.url, PASSWORD, "connect-binary-h2").unary("getPool", { name: "big" });
    expect(pool.pool).toMatchObject({ total: TOKENS });
  }, 60_000);

  it("is not ready while lmdb refuses writes after a failed commit, and ready once a probe commit succeeds", async () => {
    let failing = false;
    const store = openLmdbStore({
      dataDir: tempDir(),
      restartGraceMs: 0,
      clock: systemClock,
      log: createLogger("silent"),
      events: { ringSize: 10, subscriberBuffer: 10 },
      probeIntervalMs: 20,
      beforeCommit: () => {
        if (failing) throw new Error("injected commit failure");
      },
    });
    cleanups.push(() => store.close());
    expect((await store.createPool("p", {}, 1)).ok).toBe(true);
    expect(store.notReadyReason()).toBeUndefined();
    failing = true;
    expect(await store.generate("p", { count: 1 })).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    expect(store.notReadyReason()).toMatch(/storage commit failed/);
    failing = false;
    for (let i = 0; i < 200 && store.notReadyReason() !== undefined; i++) await sleep(10);
    expect(store.notReadyReason()).toBeUndefined();
  });
});

describe("readiness while Redis is down", () => {
  it("flips /readyz and grpc.health.v1 to not serving when redis-server stops, and back when it returns", async () => {
    const redis: RedisServer = await startRedisServer();
    cleanups.push(() => redis.stop());
    const server = await start(["--store", "redis", "--redis-url", redis.url]);
    cleanups.push(() => server.close());
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    const client = connectClient(server.url, PASSWORD, "connect-binary-h2");

    expect(await readyz(server.url)).toEqual({ status: 200 });
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);

    await redis.crash();
    let down = await readyz(server.url);
    for (let i = 0; i < 100 && down.status === 200; i++) {
      await sleep(20);
      down = await readyz(server.url);
    }
    expect(down.status).toBe(503);
    expect(down.reason).toMatch(/^store redis: Redis at redis:\/\/127\.0\.0\.1:\d+ unreachable/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await health.check({ service: "tokenpool.v1.TokenService" })).status).toBe(Status.NOT_SERVING);
    await expect(client.unary("getPool", { name: "default" })).rejects.toMatchObject({ code: "unavailable" });

    await redis.start();
    let up = await readyz(server.url);
    for (let i = 0; i < 250 && up.status !== 200; i++) {
      await sleep(20);
      up = await readyz(server.url);
    }
    expect(up).toEqual({ status: 200 });
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
  }, 30_000);
});

describe.each(["lmdb", "redis"] as const)("store metrics on %s", (store) => {
  it("observes commit latency and expiry lateness from the store", async () => {
    const flags: string[] = ["--store", store];
    if (store === "lmdb") flags.push("--data-dir", tempDir());
    else {
      const redis = await startRedisServer();
      cleanups.push(() => redis.stop());
      flags.push("--redis-url", redis.url);
    }
    const server = await start(flags);
    cleanups.push(() => server.close());
    const c = connectClient(server.url, PASSWORD, "connect-binary-h2");
    const before = await scrape(server.url);
    await c.unary("createPool", { name: "m", leaseTtl: "0.050s", initialTokens: 2 });
    await c.unary("assignToken", { pool: "m", owner: "o" });
    await c.unary("assignToken", { pool: "m", owner: "o" });
    let after = before;
    for (let i = 0; i < 150; i++) {
      after = await scrape(server.url);
      if (count(after, "tokenpool_expiry_lateness_seconds_count") - count(before, "tokenpool_expiry_lateness_seconds_count") >= 2) break;
      await sleep(20);
    }
    expect(count(after, "tokenpool_store_commit_seconds_count") - count(before, "tokenpool_store_commit_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(count(after, "tokenpool_store_commit_seconds_sum")).toBeGreaterThan(0);
    expect(count(after, "tokenpool_expiry_lateness_seconds_count") - count(before, "tokenpool_expiry_lateness_seconds_count")).toBe(2);
    // Both leases expired within a few seconds of their deadlines (Redis: the reaper's round).
    expect(count(after, "tokenpool_expiry_lateness_seconds_sum") - count(before, "tokenpool_expiry_lateness_seconds_sum")).toBeLessThan(5);
  }, 30_000);
});
