// A tokenpool server as a child process, started the way an operator does (`node --import tsx
// src/main.ts ...`), with the three ways it can end: SIGKILL, SIGTERM, or exiting by itself.
// The one place tests, benches and scripts spawn src/main.ts; processes.ts tracks the child.

import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startChild } from "./processes.js";
import { sleep } from "./sleep.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  /** http://127.0.0.1:port, once listening. */
  readonly url: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Exit code (null when killed by a signal) once the process is gone. */
  readonly exited: Promise<number | null>;
  /** SIGKILL; resolves with the wall-clock time the exit was observed (an upper bound on the death). */
  kill9(): Promise<number>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | null>;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** Runs `src/main.ts` with these arguments and only PATH plus `env` as its environment; the caller decides what to wait for. */
export function runServer(args: readonly string[], env: Record<string, string> = {}): Spawned {
  const c = startChild(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    // Tests read every line a server wrote (its JSON logs, on stderr), however long it ran.
    keepOutputChars: Infinity,
  });
  return { child: c.process, exited: c.exited, stdout: c.stdout, stderr: c.stderr };
}

/** Starts a server on an ephemeral 127.0.0.1 port and waits until it logs (stderr) that it is listening. */
export async function startServer(args: readonly string[], timeoutMs = 60_000, env: Record<string, string> = {}): Promise<ServerProcess> {
  const p = runServer(["--port", "0", "--host", "127.0.0.1", ...args], env);
  let gone = false;
  void p.exited.then(() => (gone = true));
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = /listening on (http:\/\/[\d.:]+)/.exec(p.stderr());
    if (m) {
      return {
        ...p,
        url: m[1]!,
        async kill9() {
          p.child.kill("SIGKILL");
          await p.exited;
          return Date.now();
        },
        async stop() {
          p.child.kill("SIGTERM");
          return p.exited;
        },
      };
    }
    if (gone || Date.now() > until) {
      p.child.kill("SIGKILL");
      throw new Error(`server did not start (exit ${p.child.exitCode}): ${p.stderr().trim() || p.stdout().trim()}`);
    }
    await sleep(25);
  }
}
