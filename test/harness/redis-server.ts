// A real redis-server for tests: its own free port and temp dir, so parallel test files never share
// state; optionally durable (AOF, fsync on every write) and restartable on the same port and data.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export interface RedisServerOptions {
  /** AOF with appendfsync always: every acknowledged write survives a crash. */
  readonly durable?: boolean;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops it abruptly (SIGKILL), as a crash would. */
  crash(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** SIGSTOP: it stops answering while its sockets stay open, as a hung server does. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  stop(): Promise<void>;
}

const REDIS_BIN = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";

function launch(port: number, dir: string, durable: boolean): Promise<ChildProcess> {
  const args = [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--dir", dir,
    "--save", "",
    "--appendonly", durable ? "yes" : "no",
    "--appendfsync", "always",
    "--protected-mode", "no",
    "--daemonize", "no",
    "--loglevel", "notice",
  ];
  const child = spawn(REDIS_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start on port ${port}: ${out}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (out.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-redis-"));
  const durable = options.durable ?? false;
  let port = 0;
  let child: ChildProcess | undefined;
  // Another process may grab the probed port before redis binds it: probe again.
  for (let attempt = 0; !child; attempt++) {
    port = await freePort(); // redis-server has no "--port 0"
    try {
      child = await launch(port, dir, durable);
    } catch (e) {
      if (attempt >= 4) throw e;
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async crash() {
      if (!child) return;
      const c = child;
      child = undefined;
      c.kill("SIGKILL");
      await exited(c);
    },
    async start() {
      if (child) return;
      child = await launch(port, dir, durable);
    },
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c) {
        c.kill("SIGCONT"); // a paused server would never act on the SIGTERM
        c.kill("SIGTERM");
        await exited(c);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
