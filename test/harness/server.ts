// Starts the real server in-process on an ephemeral 127.0.0.1 port, with the chosen store.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config, type StoreChoice } from "../../src/config/config.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import { startServer, type RunningServer, type StartOptions } from "../../src/server/server.js";
import { startRedisCluster } from "./redis-cluster.js";
import { startRedisServer } from "./redis-server.js";

export const TEST_PASSWORD = "test-password-5f2c";

export interface TestServer {
  readonly url: string;
  /** host:port for grpc-js clients. */
  readonly address: string;
  readonly password: string;
  readonly server: RunningServer;
  readonly config: Config;
  close(): Promise<void>;
}

/** A store as tests name it: a server store, or the redis store on a 3-master Redis Cluster. */
export type TestStore = StoreChoice | "redis-cluster";

/** Stores the conformance suite runs against; later backends add themselves here. */
export const STORES: readonly TestStore[] = ["memory", "lmdb", "redis", "redis-cluster"];

/** Something a redis store can use: a redis-server, or a cluster's seed node. */
interface RedisTarget {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * `sharedRedis`: run on this redis-server or cluster (a replica among others) instead of one of its
 * own; the caller stops it. `start`: startServer options other than the defaults below.
 */
export async function startTestServer(
  store: TestStore = "memory",
  flags: readonly string[] = [],
  sharedRedis?: { readonly url: string },
  start: Partial<Pick<StartOptions, "clock" | "connectKeepAliveEncoders">> = {},
): Promise<TestServer> {
  const dataDir = store === "lmdb" ? mkdtempSync(join(tmpdir(), "tokenpool-test-")) : undefined;
  // Each server gets its own redis-server (or cluster), so parallel test files never see each other's pools.
  let ownRedis: RedisTarget | undefined;
  if (!sharedRedis && store === "redis") ownRedis = await startRedisServer();
  if (!sharedRedis && store === "redis-cluster") {
    const cluster = await startRedisCluster();
    ownRedis = { url: cluster.seedUrl, stop: () => cluster.stop() };
  }
  const redis = sharedRedis ?? ownRedis;
  const loaded = loadConfig(
    [
      "--port", "0",
      "--host", "127.0.0.1",
      "--api-password", TEST_PASSWORD,
      "--store", store === "redis-cluster" ? "redis" : store,
      ...(store === "redis-cluster" ? ["--redis-cluster"] : []),
      "--log-level", "silent",
      "--shutdown-grace", "1",
      ...(dataDir ? ["--data-dir", dataDir] : []),
      ...(redis ? ["--redis-url", redis.url] : []),
      ...flags,
    ],
    {},
  );
  if (loaded === "help") throw new Error("unexpected --help");
  const server = await startServer(loaded, {
    clock: systemClock,
    log: createLogger("silent"),
    announcePassword: () => undefined,
    ...start,
  }).catch(async (e: unknown) => {
    await ownRedis?.stop();
    throw e;
  });
  return {
    url: server.url,
    address: `127.0.0.1:${server.port}`,
    password: TEST_PASSWORD,
    server,
    config: loaded,
    async close() {
      await server.close();
      await ownRedis?.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestReplicas {
  readonly replicas: readonly TestServer[];
  close(): Promise<void>;
}

/** `count` in-process servers on one shared redis-server: stateless replicas, as deployed. */
export async function startTestReplicas(count: number, flags: readonly string[] = []): Promise<TestReplicas> {
  const redis = await startRedisServer();
  const replicas: TestServer[] = [];
  const close = async (): Promise<void> => {
    for (const r of replicas) await r.close();
    await redis.stop();
  };
  try {
    for (let i = 0; i < count; i++) replicas.push(await startTestServer("redis", flags, redis));
  } catch (e) {
    await close();
    throw e;
  }
  return { replicas, close };
}
