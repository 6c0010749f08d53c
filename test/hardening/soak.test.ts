// CI's short soak: `scripts/soak.ts --seconds 30` run as an operator runs it (its own process, lmdb in
// a temp dir), held to its verdict. The full-length run is `npm run soak -- --minutes 10`.

import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT } from "../harness/server-process.js";

interface Summary {
  readonly pass: boolean;
  readonly failures: readonly string[];
  readonly callsPerSecond: number;
  readonly watchEvents: number;
  readonly badInputs: number;
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Signals a Node process dies of when native code corrupts its heap. The soak client churns HTTP/2
 * sessions far harder than any real client; Node's own http2 binding has had reentrancy bugs that
 * corrupt memory under such churn (seen here once in ~40 runs: glibc "corrupted size vs. prev_size",
 * SIGABRT, in the client). The server is a separate process the verdict never came from, so such a
 * run says nothing either way and is run again, once. A server crash is in the verdict: never retried.
 */
const CLIENT_NATIVE_CRASH = new Set<NodeJS.Signals>(["SIGABRT", "SIGSEGV", "SIGBUS"]);

function runSoak(): Promise<Run> {
  // Its own process group: should the soak client die abruptly, the server it started is left over,
  // and killing the group takes it too.
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/soak.ts", "--seconds", "30"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  return new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      if (signal !== null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // the group is already gone
        }
      }
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

describe("soak", () => {
  it("30 s of mixed load with bad input: no unexpected outcome, invariants hold, memory bounded, clean exit", async () => {
    let run = await runSoak();
    if (run.signal !== null && CLIENT_NATIVE_CRASH.has(run.signal)) {
      console.warn(`soak client died of ${run.signal} (not the server); running again. stderr: ${run.stderr.slice(-1000)}`);
      run = await runSoak();
    }
    const { code, stdout, stderr } = run;
    console.log(stdout || stderr);
    const line = stdout.trim().split("\n").pop() ?? "";
    expect(line.startsWith('{"soak":'), `no summary line (exit ${code ?? run.signal}); stderr: ${stderr.slice(-2000)}`).toBe(true);
    const summary = (JSON.parse(line) as { soak: Summary }).soak;
    expect(summary.failures).toEqual([]);
    expect(summary.pass).toBe(true);
    expect(code).toBe(0);
    // It was a real run, not an empty one.
    expect(summary.callsPerSecond).toBeGreaterThan(20);
    expect(summary.watchEvents).toBeGreaterThan(500);
    expect(summary.badInputs).toBeGreaterThan(100);
  }, 180_000);
});
