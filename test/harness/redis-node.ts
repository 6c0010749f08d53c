// One redis-server process for the multi-node harnesses (Cluster, Sentinel): its own free port and
// temp dir, stopped by pid; kill -9 and restart on the same port and data for failover tests.

import { existsSync, rmSync, writeFileSync } from "node:fs";
import { Redis } from "ioredis";
import { startChild, tempDir, waitForLine, type Child } from "./processes.js";
import { freePort } from "./ports.js";

export const REDIS_BIN = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";

export interface RedisNode {
  readonly port: number;
  readonly dir: string;
  /** A plain client to this node (harness side: cluster and sentinel commands). */
  admin(): Redis;
  /** SIGKILL, as a crash would. */
  crash(): Promise<void>;
  /**
   * Starts it again on the same port and directory (its config file may have been rewritten), with
   * `extra` arguments for this start only (e.g. `--replicaof` the current primary).
   */
  start(extra?: readonly string[]): Promise<void>;
  /** SIGSTOP: it stops answering while its sockets stay open, as a frozen VM does. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  readonly running: boolean;
  stop(): Promise<void>;
}

/**
 * Starts redis-server (or `redis-server --sentinel` when `sentinel`) with `args` on a free port;
 * `args` may use the port through the callback. Config lives in `dir/node.conf` (starting as
 * `options.config`) so Cluster and Sentinel can rewrite it and a restart keeps what they learned.
 */
export async function startRedisNode(
  args: (port: number, dir: string) => readonly string[],
  options: { readonly sentinel?: boolean; readonly config?: string } = {},
): Promise<RedisNode> {
  const sentinel = options.sentinel ?? false;
  const dir = tempDir("tokenpool-redis-node-");
  let port = 0;
  let child: Child | undefined;
  let clients: Redis[] = [];
  const launch = async (extra: readonly string[] = []): Promise<Child> => {
    const conf = `${dir}/node.conf`;
    if (!existsSync(conf)) writeFileSync(conf, options.config ?? "");
    const c = startChild(REDIS_BIN, [
      conf,
      ...(sentinel ? ["--sentinel"] : []),
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--dir", dir,
      "--protected-mode", "no",
      "--daemonize", "no",
      ...(sentinel ? [] : ["--save", "", "--appendonly", "no"]),
      ...args(port, dir),
      ...extra,
    ]);
    await waitForLine(c, /Ready to accept connections|Sentinel ID is/, 10_000, `redis-server on port ${port}`);
    return c;
  };
  // Another process may grab the probed port before redis binds it: probe again.
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch();
    } catch (e) {
      if (attempt >= 4) throw e;
    }
  }
  const closeClients = (): void => {
    for (const c of clients) c.disconnect();
    clients = [];
  };
  return {
    port,
    dir,
    admin() {
      // Reconnects (a crashed node may be started again); stop() ends it.
      const c = new Redis({ port, host: "127.0.0.1", lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(50 * n, 500) });
      c.on("error", () => undefined);
      clients.push(c);
      return c;
    },
    get running() {
      return child !== undefined;
    },
    async crash() {
      const c = child;
      child = undefined;
      if (!c) return;
      c.process.kill("SIGKILL");
      await c.exited;
    },
    async start(extra) {
      if (!child) child = await launch(extra);
    },
    pause() {
      child?.process.kill("SIGSTOP");
    },
    resume() {
      child?.process.kill("SIGCONT");
    },
    async stop() {
      closeClients();
      const c = child;
      child = undefined;
      c?.process.kill("SIGCONT"); // a paused node cannot stop gracefully
      await c?.stop(2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
