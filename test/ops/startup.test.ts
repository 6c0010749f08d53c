// What start-up prints: the configuration with secrets redacted and one line saying where everything
// is, checked on the functions and on a real process (JSON log lines on stdout, no secret anywhere).

import { describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../src/config/config.js";
import { redactUrl } from "../../src/config/redact-url.js";
import { configSummary, whereEverythingIs } from "../../src/server/startup.js";
import { startRedisServer } from "../harness/redis-server.js";
import { runServer } from "../harness/server-process.js";
import { sleep } from "../harness/sleep.js";

function config(flags: string[]): Config {
  const c = loadConfig(flags, {});
  if (c === "help") throw new Error("unexpected --help");
  return c;
}

describe("start-up summary", () => {
  it("redacts passwords in URLs, keeping user and hosts", () => {
    expect(redactUrl("redis://:hunter2@db:6379/0")).toBe("redis://:[redacted]@db:6379/0");
    expect(redactUrl("rediss://app:hunter2@db:6380")).toBe("rediss://app:[redacted]@db:6380");
    expect(redactUrl("redis+cluster://u:p@h1:7000,h2:7001")).toBe("redis+cluster://u:[redacted]@h1:7000,h2:7001");
    expect(redactUrl("redis://db:6379")).toBe("redis://db:6379");
  });

  it("summarises the configuration without any secret", () => {
    const c = config(["--api-password", "pw-1", "--metrics-token", "mt-2", "--store", "redis", "--redis-url", "redis://:rp-3@db:6379"]);
    const text = JSON.stringify(configSummary(c));
    for (const secret of ["pw-1", "mt-2", "rp-3"]) expect(text).not.toContain(secret);
    expect(configSummary(c)).toMatchObject({ store: "redis", redisUrl: "redis://:[redacted]@db:6379", apiPassword: "[redacted]", metricsToken: "[redacted]" });
    expect(configSummary(config([]))).toMatchObject({ metricsToken: "unset (/metrics is open)" });
  });

  it("says where everything is in one line", () => {
    const where = whereEverythingIs(config(["--store", "lmdb", "--data-dir", "/var/lib/tokenpool"]), "http://127.0.0.1:8080");
    expect(where.message).toMatch(/^tokenpool listening on http:\/\/127\.0\.0\.1:8080 \(gRPC/);
    expect(where.message).toContain("docs http://127.0.0.1:8080/docs");
    expect(where.message).toContain("metrics http://127.0.0.1:8080/metrics");
    expect(where.message).toContain("store lmdb in /var/lib/tokenpool");
    expect(where.fields).toMatchObject({ url: "http://127.0.0.1:8080", docs: "http://127.0.0.1:8080/docs", store: "lmdb", dataDir: "/var/lib/tokenpool" });
  });

  it("a real process logs configuration, port and location lines as JSON, secrets redacted", async () => {
    const redis = await startRedisServer();
    try {
      // redis-server has no password: the client's AUTH is refused with a warning and the URL still works.
      const redisUrl = `redis://:redis-secret-5@127.0.0.1:${redis.port}`;
      const { child, exited, stdout, stderr } = runServer(
        ["--port", "0", "--host", "127.0.0.1", "--store", "redis", "--redis-url", redisUrl, "--total-tokens", "0"],
        { API_PASSWORD: "api-secret-4", METRICS_TOKEN: "metrics-secret-6" },
      );
      const until = Date.now() + 20_000;
      while (!/listening on http/.test(stderr()) && child.exitCode === null && Date.now() < until) await sleep(50);
      child.kill("SIGTERM");
      await exited;
      const out = stderr(); // the log
      const err = stdout();

      // ioredis's own console warning about the unneeded AUTH shares stderr with the log.
      const lines = out
        .trim()
        .split("\n")
        .filter((l) => !l.startsWith("[WARN] This Redis server"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const byMsg = (re: RegExp) => lines.find((l) => re.test(String(l.msg)));
      expect(byMsg(/^configuration$/)?.config).toMatchObject({ redisUrl: `redis://:[redacted]@127.0.0.1:${redis.port}`, apiPassword: "[redacted]", metricsToken: "[redacted]" });
      expect(byMsg(/^port open at http:\/\/127\.0\.0\.1:\d+; \/healthz answers/)?.msg).toContain("connecting to Redis");
      const where = byMsg(/^tokenpool listening on /);
      expect(where?.msg).toMatch(/docs http:\/\/127\.0\.0\.1:\d+\/docs; metrics http:\/\/127\.0\.0\.1:\d+\/metrics \(bearer token\); store redis at redis:\/\/:\[redacted\]@/);
      expect(where).toMatchObject({ level: 30, store: "redis", protocols: expect.arrayContaining(["gRPC-Web"]) });
      expect(byMsg(/^shutting down$/)).toBeDefined();
      for (const secret of ["api-secret-4", "metrics-secret-6", "redis-secret-5"]) {
        expect(out).not.toContain(secret);
        expect(err).not.toContain(secret);
      }
    } finally {
      await redis.stop();
    }
  }, 30_000);
});
