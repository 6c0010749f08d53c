// Server logs for people and for machines: the log goes to stderr, and it is one readable line per
// entry exactly when stderr is a terminal (a pty from `script`), whatever stdout is; through a pipe it
// stays pino's JSON. The formatter keeps every field and redaction.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, startServer } from "../harness/server-process.js";
import { sleep } from "../harness/sleep.js";
import { prettyLine } from "../../src/runtime/logger.js";

const ARGS = ["--port", "0", "--host", "127.0.0.1", "--store", "memory", "--api-password", "log-format-secret"];

/**
 * Runs the server under a terminal (`script` gives it a pty) with one of its streams sent to a file
 * instead, until the listening line shows up in either; returns what the terminal and the file got.
 */
function underTerminal(fileStream: "stdout" | "stderr"): Promise<{ terminal: string; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tokenpool-log-"));
  const path = join(dir, "out");
  const command = [process.execPath, "--import", "tsx", "src/main.ts", ...ARGS, fileStream === "stdout" ? `>${path}` : `2>${path}`].join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let terminal = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (terminal += d));
  const read = (): string => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  return (async () => {
    try {
      const until = Date.now() + 20_000;
      while (!/listening on[^\n]*\n/.test(terminal + read())) {
        if (Date.now() > until) throw new Error(`no listening line: ${terminal}${read()}`);
        await sleep(50);
      }
      return { terminal, file: read() };
    } finally {
      // Killing `script` closes the terminal: the server gets SIGHUP and ends with it.
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  })();
}

describe("server log format", () => {
  it("is one readable line per entry on stderr when stderr is a terminal (stdout not), without JSON or the password", async () => {
    const { terminal, file } = await underTerminal("stdout");
    expect(file).toBe(""); // nothing on stdout: the log is on stderr
    const lines = terminal.split(/\r?\n/).filter((l) => l !== "");
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR) \S/);
    expect(terminal).toMatch(/INFO  tokenpool listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(terminal).toContain('"apiPassword":"[redacted]"');
    expect(terminal).not.toContain("log-format-secret");
  });

  it("stays JSON when stderr is not a terminal, even with stdout on one", async () => {
    const { terminal, file } = await underTerminal("stderr");
    expect(terminal.trim()).toBe("");
    const lines = file.trim().split("\n");
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg).join("\n")).toContain("tokenpool listening on");
  });

  it("stays JSON on stderr through a pipe, and leaves stdout empty", async () => {
    const s = await startServer(ARGS.slice(4));
    try {
      const lines = s.stderr().trim().split("\n");
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
      expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg).join("\n")).toContain("tokenpool listening on");
      expect(s.stdout()).toBe("");
    } finally {
      await s.stop();
    }
  });

  it("formats a pino line with its level, time, message and fields", () => {
    const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5, 678), pid: 1, hostname: "h", service: "tokenpool", msg: "store lost", reason: "ECONNREFUSED", attempt: 3, detail: "two words" });
    expect(prettyLine(line)).toBe('03:04:05.678 WARN  store lost reason=ECONNREFUSED attempt=3 detail="two words"\n');
    expect(prettyLine("not json\n")).toBe("not json\n");
  });
});
