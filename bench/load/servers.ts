// Starts every server the bench measures, each on 127.0.0.1 and its own port: tokenpool as production
// runs it (`node dist/src/main.js`, compiled, no TypeScript loader), the baselines, Flask, redis-server.

import { join } from "node:path";
import { freePort } from "../../test/harness/ports.js";
import { startChild, tempDir, waitForLine, type Child } from "../../test/harness/processes.js";
import { sleep } from "../../test/harness/sleep.js";
import { ROOT } from "./build.js";
import { PYTHON } from "./system-tools.js";

export interface Running {
  readonly name: string;
  readonly url: string;
  /** The process whose CPU time is reported. */
  readonly pid: number;
  readonly child: Child;
  stop(): Promise<void>;
}

export type StoreName = "memory" | "lmdb" | "redis";

const LISTENING = /listening on (http:\/\/[\d.:]+)/;
/** Only what a server needs from the environment: no NODE_OPTIONS or loader leaking in from npm. */
const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };

export interface TokenpoolOptions {
  readonly store: StoreName;
  readonly password: string;
  readonly redisUrl?: string;
  /** Tokens of the default pool (the legacy routes' pool). */
  readonly totalTokens: number;
  /** Who serves native gRPC (the server's --grpc-engine); its default, grpc-js, when unset. */
  readonly grpcEngine?: "grpc-js" | "connect";
  /** Another checkout whose build to run instead of this one (a before/after in the same rounds). */
  readonly tree?: string;
}

/** The server name of a tokenpool run from --baseline-tree (bench-load.ts). */
export const BASELINE_TREE_SERVER = "tokenpool-memory-baseline-tree";

export async function startTokenpool(o: TokenpoolOptions): Promise<Running> {
  const args = [
    "dist/src/main.js",
    "--host", "127.0.0.1",
    "--port", "0",
    "--store", o.store,
    "--api-password", o.password,
    "--total-tokens", String(o.totalTokens),
    "--idle-ttl", "0",
    "--log-level", "info",
  ];
  if (o.store === "lmdb") args.push("--data-dir", join(tempDir("tokenpool-load-lmdb-"), "data"));
  if (o.store === "redis" && o.redisUrl) args.push("--redis-url", o.redisUrl);
  if (o.grpcEngine) args.push("--grpc-engine", o.grpcEngine);
  const child = startChild(process.execPath, args, { cwd: o.tree ?? ROOT, env: ENV });
  const name = o.tree !== undefined ? BASELINE_TREE_SERVER : `tokenpool-${o.store}${o.grpcEngine === "connect" ? "-connect-engine" : ""}`;
  const url = await waitForLine(child, LISTENING, 60_000, name);
  return { name, url, pid: child.pid, child, stop: () => child.stop() };
}

export type Baseline = "connect-floor" | "grpcjs-floor" | "bare-http2";

export async function startBaseline(kind: Baseline): Promise<Running> {
  const child = startChild(process.execPath, [`dist/bench/load/servers/${kind}.js`, "--port", "0", "--host", "127.0.0.1"], { cwd: ROOT, env: ENV });
  const url = await waitForLine(child, LISTENING, 30_000, kind);
  return { name: kind, url, pid: child.pid, child, stop: () => child.stop() };
}

/** The seeded tokenpool of the lateness scenario; resolves once its leases exist. */
export async function startSeededTokenpool(
  password: string,
  leases: number,
  ratePerSec: number,
  budgetMs: number,
  store: "memory" | "lmdb" = "memory",
): Promise<Running & { seed: SeedInfo }> {
  const storeArgs = store === "lmdb" ? ["--store", "lmdb", "--data-dir", join(tempDir("tokenpool-load-seeded-"), "data")] : ["--store", "memory"];
  const child = startChild(
    process.execPath,
    ["--expose-gc", "dist/bench/load/servers/seeded-tokenpool.js", "--host", "127.0.0.1", "--port", "0", ...storeArgs, "--api-password", password, "--idle-ttl", "0", "--log-level", "warn"],
    {
      cwd: ROOT,
      env: { ...ENV, BENCH_LEASES: String(leases), BENCH_EXPIRY_RATE: String(ratePerSec), BENCH_SEED_BUDGET_MS: String(budgetMs) },
    },
  );
  const url = await waitForLine(child, LISTENING, budgetMs + 60_000, "seeded tokenpool");
  const seedLine = await waitForLine(child, /^(\{"seeded".*\})$/m, 10_000, "seeded tokenpool");
  return { name: "tokenpool-seeded", url, pid: child.pid, child, stop: () => child.stop(), seed: JSON.parse(seedLine) as SeedInfo };
}

export interface SeedInfo {
  readonly seeded: number;
  readonly pool: string;
  readonly firstDeadline: number;
  readonly ratePerSec: number;
  readonly seededMs: number;
  /** The whole process's heap after GC (plus array buffers) with every lease live; absent without --expose-gc. */
  readonly memory?: SeedMemory;
}

export interface SeedMemory {
  readonly store: string;
  readonly heapBytesBefore: number;
  readonly heapBytes: number;
  readonly rssBytes: number;
  readonly bytesPerLease: number;
  readonly addedBytesPerLease: number;
}

/** The original service reproduced in Flask, started the way its image did: `flask run`. */
export async function startFlask(password: string, totalTokens: number): Promise<Running> {
  const port = await freePort();
  const child = startChild(
    PYTHON,
    ["-m", "flask", "--app", join(ROOT, "bench/load/servers/flask_original.py"), "run", "--host", "127.0.0.1", "--port", String(port)],
    // Its per-request prints go nowhere, as cheaply as a container log could take them.
    // PYTHONDONTWRITEBYTECODE: no __pycache__ left in the source tree.
    {
      cwd: ROOT,
      env: { ...ENV, API_PASSWORD: password, TOTAL_TOKENS: String(totalTokens), TIMER_DURATION: "1800", PYTHONDONTWRITEBYTECODE: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${url}/tokens`, { headers: { "x-api-password": password } }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > until || child.process.exitCode !== null) {
      await child.stop(0);
      throw new Error(`flask did not start: ${child.stderr().slice(-2000)}`);
    }
    await sleep(100);
  }
  return { name: "flask", url, pid: child.pid, child, stop: () => child.stop() };
}

/** redis-server for the redis store, configured as the README recommends (AOF, fsync always). */
export async function startRedis(): Promise<Running> {
  const port = await freePort();
  const dir = tempDir("tokenpool-load-redis-");
  const child = startChild("redis-server", [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--dir", dir,
    "--save", "",
    "--appendonly", "yes",
    "--appendfsync", "always",
    "--maxmemory-policy", "noeviction",
    "--protected-mode", "no",
    "--daemonize", "no",
  ]);
  await waitForLine(child, /(Ready to accept connections)/, 15_000, "redis-server");
  return { name: "redis-server", url: `redis://127.0.0.1:${port}`, pid: child.pid, child, stop: () => child.stop() };
}
