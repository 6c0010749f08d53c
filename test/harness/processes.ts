// Child processes and temp dirs that tests, benches and scripts create, tracked so that every exit path
// (normal end, error, Ctrl-C, SIGTERM) stops them by pid and removes the dirs: nothing is left behind.

import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "./sleep.js";

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Everything written to stdout / stderr so far (kept for error messages and start-up lines). */
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export interface ChildOptions extends SpawnOptions {
  /** Output kept per stream, in characters (64 000 by default: a chatty server must not grow a bench's heap). */
  readonly keepOutputChars?: number;
}

export function startChild(command: string, args: readonly string[], { keepOutputChars = 64_000, ...options }: ChildOptions = {}): Child {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  children.add(child);
  let out = "";
  let err = "";
  const keep = (acc: string, chunk: string): string => (acc.length > keepOutputChars ? acc : acc + chunk);
  child.stdout?.setEncoding("utf8").on("data", (c: string) => (out = keep(out, c)));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => (err = keep(err, c)));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return {
    process: child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Waits until `pattern` appears in the child's stdout or stderr (tokenpool logs to stderr, redis-server
 * and the bench's own servers print to stdout); returns the first capture group.
 */
export async function waitForLine(child: Child, pattern: RegExp, timeoutMs: number, what: string): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(child.stdout()) ?? pattern.exec(child.stderr());
    if (m) return m[1] ?? m[0];
    if (child.process.exitCode !== null || child.process.signalCode !== null || Date.now() > until) {
      await child.stop(0);
      throw new Error(`${what} did not start: ${(child.stderr() || child.stdout()).trim().slice(-2000)}`);
    }
    await sleep(25);
  }
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** Kills what is still running (by pid) and removes temp dirs; synchronous so it works in 'exit'. */
export function cleanupNow(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

let installed = false;
/** Cleans up on every way out of a bench process. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on("exit", cleanupNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping servers and removing temp dirs\n`);
      cleanupNow();
      process.exit(130);
    });
  }
}
