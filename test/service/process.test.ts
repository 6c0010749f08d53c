// The server as an operator runs it: a child process started like `npm start`, its --help, its
// refusal of bad configuration, the generated password, and a graceful SIGTERM with a stream open.

import { describe, expect, it } from "vitest";
import { connectClient } from "../harness/clients.js";
import { runServer, startServer, type ServerProcess } from "../harness/server-process.js";
import { sleep } from "../harness/sleep.js";

/** A memory-store server on an ephemeral port. */
const start = (args: readonly string[], env: Record<string, string> = {}): Promise<ServerProcess> => startServer(["--store", "memory", ...args], 15_000, env);

describe("tokenpool process", () => {
  it("--help lists every option with its environment variable and default", async () => {
    const p = runServer(["--help"]);
    expect(await p.exited).toBe(0);
    for (const word of ["--port", "PORT", "8080", "--api-password", "API_PASSWORD", "TOTAL_TOKENS", "LEASE_TTL", "TIMER_DURATION", "IDLE_TTL", "--store"]) {
      expect(p.stdout()).toContain(word);
    }
  });

  it("refuses invalid configuration with one clear line and exit code 2", async () => {
    const p = runServer(["--port", "70000"]);
    expect(await p.exited).toBe(2);
    const lines = p.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("--port");
    expect(lines[0]).toContain("70000");

    const q = runServer([], { LEASE_TTL: "soon" });
    expect(await q.exited).toBe(2);
    expect(q.stderr()).toContain("LEASE_TTL");

    const r = runServer(["--bogus-flag", "1"]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toContain("bogus-flag");
  });

  it("generates a password when none is set, prints it once to stdout and never logs it (stderr)", async () => {
    const s = await start([]);
    try {
      const m = /generated password for this run: (\S+)/.exec(s.stdout());
      expect(m).not.toBeNull();
      const password = m![1]!;
      expect(password.length).toBeGreaterThanOrEqual(32);
      expect(s.stdout().split(password)).toHaveLength(2); // once
      expect(s.stderr()).toContain("tokenpool listening on"); // the log is there…
      expect(s.stderr()).not.toContain(password); // …without it
      const ok = connectClient(s.url, password, "connect-binary-h2");
      expect(await ok.unary("getPool", { name: "default" })).toMatchObject({ pool: { name: "default", total: 1 } });
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  });

  it("creates the default pool from TOTAL_TOKENS / TIMER_DURATION / IDLE_TTL", async () => {
    const s = await start([], { API_PASSWORD: "pw", TOTAL_TOKENS: "7", TIMER_DURATION: "90", IDLE_TTL: "0" });
    try {
      const c = connectClient(s.url, "pw", "grpc-h2");
      expect((await c.unary("getPool", { name: "default" })).pool).toMatchObject({ total: 7, available: 7, leaseTtl: "90s" });
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  });

  it("shuts down gracefully on SIGTERM: streams end with UNAVAILABLE, exit code 0", async () => {
    const s = await start([], { API_PASSWORD: "pw", TOTAL_TOKENS: "2" });
    const c = connectClient(s.url, "pw", "grpc-h2");
    const received: string[] = [];
    const stream = (async () => {
      for await (const m of c.watch({ pool: "default" })) if (m.event) received.push(String((m.event as { type: string }).type));
    })();
    await sleep(200);
    await c.unary("assignToken", { pool: "default", owner: "before-shutdown" });
    const until = Date.now() + 5000;
    while (received.length === 0 && Date.now() < until) await sleep(20);
    s.child.kill("SIGTERM");
    const outcome = await stream.then(
      () => "clean",
      (e: unknown) => (e as { code?: string }).code,
    );
    expect(received).toEqual(["LEASE_EVENT_TYPE_ASSIGNED"]);
    expect(outcome).toBe("unavailable");
    expect(await s.exited).toBe(0);
    expect(s.stderr()).toContain("shutting down");
  });
});
