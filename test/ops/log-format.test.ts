// Server logs for people and for machines: on a terminal (a pty from `script`) each entry is one
// readable line, through a pipe it stays pino's JSON; the formatter keeps every field and redaction.

import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT, startServer } from "../harness/server-process.js";
import { prettyLine } from "../../src/runtime/logger.js";

const ARGS = ["--port", "0", "--host", "127.0.0.1", "--store", "memory", "--api-password", "log-format-secret"];

/** The server's output when its stdout is a terminal, up to the line saying it listens. */
function underTerminal(): Promise<string> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, "--import", "tsx", "src/main.ts", ...ARGS].join(" ");
    const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    // Killing `script` closes the terminal: the server gets SIGHUP and ends with it.
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`no listening line: ${out}`))), 20_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (!/listening on[^\n]*\n/.test(out)) return;
      clearTimeout(timer);
      child.kill("SIGKILL");
      resolve(out);
    });
  });
}

describe("server log format", () => {
  it("is one readable line per entry on a terminal, without JSON or the password", async () => {
    const out = await underTerminal();
    const lines = out.split(/\r?\n/).filter((l) => l !== "");
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR) \S/);
    expect(out).toMatch(/INFO  tokenpool listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain('"apiPassword":"[redacted]"');
    expect(out).not.toContain("log-format-secret");
  });

  it("stays JSON through a pipe", async () => {
    const s = await startServer(ARGS.slice(2));
    try {
      const lines = s.stdout().trim().split("\n");
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
      expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg).join("\n")).toContain("tokenpool listening on");
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
