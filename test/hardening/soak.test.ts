// CI's short soak: `scripts/soak.ts --seconds 30` run as an operator runs it (its own process, lmdb in
// a temp dir), held to its verdict. The full-length run is `npm run soak -- --minutes 10`.

import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/crash/server-process.js";

interface Summary {
  readonly pass: boolean;
  readonly failures: readonly string[];
  readonly callsPerSecond: number;
  readonly watchEvents: number;
  readonly badInputs: number;
}

describe("soak", () => {
  it("30 s of mixed load with bad input: no unexpected outcome, invariants hold, memory bounded, clean exit", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/soak.ts", "--seconds", "30"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    console.log(stdout || stderr);
    const line = stdout.trim().split("\n").pop() ?? "";
    expect(line.startsWith('{"soak":'), `no summary line; stderr: ${stderr.slice(-2000)}`).toBe(true);
    const summary = (JSON.parse(line) as { soak: Summary }).soak;
    expect(summary.failures).toEqual([]);
    expect(summary.pass).toBe(true);
    expect(code).toBe(0);
    // It was a real run, not an empty one.
    expect(summary.callsPerSecond).toBeGreaterThan(20);
    expect(summary.watchEvents).toBeGreaterThan(500);
    expect(summary.badInputs).toBeGreaterThan(100);
  }, 90_000);
});
