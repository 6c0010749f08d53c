// A server killed with kill -9 whose parent never reaps it (a shell that exec'd into something else,
// `sh -c` as a container's PID 1) stays a zombie: its pid still answers kill(pid, 0), but it holds
// nothing. A restart on the same data dir must take the lock over at once, and keep the data.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { duration, tokenClient } from "../harness/token-client.js";
import { ROOT, startServer, type ServerProcess } from "../harness/server-process.js";
import { LOCK_FILE } from "../../src/store/lmdb/data-dir-lock.js";
import { sleep } from "../harness/sleep.js";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Field 3 of /proc/<pid>/stat (Z for a zombie), undefined once the pid is gone. */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const ready = async (url: string): Promise<true | undefined> => {
  try {
    return (await fetch(`${url}/readyz`)).status === 200 ? true : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The server as a grandchild: a shell starts it in the background, prints its pid, then blocks reading
 * its stdin, not reaping the server until it is given a line (the test's cleanup: no zombie left).
 */
async function serverUnderNonReapingParent(args: readonly string[]): Promise<{ parent: ChildProcess; pid: number; url: string }> {
  const command = `node --import tsx src/main.ts ${args.join(" ")} & echo "pid=$!"; read line; wait`;
  const parent = spawn("sh", ["-c", command], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" }, stdio: ["pipe", "pipe", "pipe"] });
  const parentExited = new Promise<void>((resolve) => parent.once("exit", () => resolve()));
  cleanups.push(async () => {
    parent.stdin?.end("reap\n");
    const timer = setTimeout(() => parent.kill("SIGKILL"), 5_000);
    await parentExited;
    clearTimeout(timer);
  });
  let out = "";
  parent.stdout?.setEncoding("utf8").on("data", (c: string) => (out += c));
  parent.stderr?.setEncoding("utf8").on("data", (c: string) => (out += c));
  const pid = await until("the server's pid", () => {
    const m = /pid=(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  });
  cleanups.push(() => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  });
  const url = await until(`the server to listen: ${out}`, () => /listening on (http:\/\/[\d.:]+)/.exec(out)?.[1]);
  return { parent, pid, url };
}

describe("lmdb data dir whose owner is a zombie", () => {
  it("is taken over by a restart at once, with its data", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokenpool-zombie-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const args = ["--port", "0", "--host", "127.0.0.1", "--store", "lmdb", "--data-dir", dir, "--api-password", "pw"];

    const first = await serverUnderNonReapingParent(args);
    await until("the first server to be ready", () => ready(first.url));
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8"))).toMatchObject({ pid: first.pid });
    await tokenClient(first.url, "pw").createPool({ name: "kept", leaseTtl: duration(600_000), initialTokens: 3 });

    process.kill(first.pid, "SIGKILL");
    await until("the killed server to be a zombie", () => (stateOf(first.pid) === "Z" ? true : undefined), 10_000);
    // Still a zombie: kill(pid, 0) succeeds, which is what the lock used to trust.
    expect(() => process.kill(first.pid, 0)).not.toThrow();

    const second: ServerProcess = await startServer(["--store", "lmdb", "--data-dir", dir, "--api-password", "pw"]);
    cleanups.push(() => void second.child.kill("SIGKILL"));
    let refused = false;
    void second.exited.then(() => (refused = true));
    await until(`the restarted server to be ready (stderr: ${second.stderr()})`, () => {
      if (refused) throw new Error(`restart refused: ${second.stderr().trim()}`);
      return ready(second.url);
    });
    expect(stateOf(first.pid)).toBe("Z"); // the takeover did not wait for a reaper
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8"))).toMatchObject({ pid: second.child.pid });
    const pool = (await tokenClient(second.url, "pw").getPool({ name: "kept" })).pool!;
    expect(pool.total).toBe(3);
    expect(await second.stop()).toBe(0);
  }, 90_000);
});
