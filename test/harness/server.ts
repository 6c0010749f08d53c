// Starts the real server in-process on an ephemeral 127.0.0.1 port, with the chosen store.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config, type StoreChoice } from "../../src/config/config.js";
import { systemClock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { startRedisServer, type RedisServer } from "./redis-server.js";

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

/** Stores the conformance suite runs against; later backends add themselves here. */
export const STORES: readonly StoreChoice[] = ["memory", "lmdb", "redis"];

/**
 * `sharedRedis`: run on this redis-server (a replica among others) instead of one of its own; the
 * caller stops it.
 */
export async function startTestServer(
  store: StoreChoice = "memory",
  flags: readonly string[] = [],
  sharedRedis?: RedisServer,
): Promise<TestServer> {
  const dataDir = store === "lmdb" ? mkdtempSync(join(tmpdir(), "tokenpool-test-")) : undefined;
  // Each server gets its own redis-server, so parallel test files never see each other's pools.
  const ownRedis: RedisServer | undefined = store === "redis" && !sharedRedis ? await startRedisServer() : undefined;
  const redis = sharedRedis ?? ownRedis;
  const loaded = loadConfig(
    [
      "--port", "0",
      "--host", "127.0.0.1",
      "--api-password", TEST_PASSWORD,
      "--store", store,
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
