// Operator endpoints: liveness, readiness (flips during shutdown), Prometheus metrics whose values
// move when RPCs, legacy calls, expiries and slow watchers happen, the optional metrics token, and
// request ids echoed on every protocol.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "3"]);
});
afterAll(async () => {
  await s.close();
});

const scrape = async (url = s.url): Promise<string> => (await fetch(`${url}/metrics`)).text();
const sample = (text: string, name: string, labels: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(labels === "" ? `${name} ` : `${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
};

/** A Connect JSON unary call over plain fetch, as curl would make it. */
const connectJson = (url: string, method: string, body: object, headers: Record<string, string> = {}) =>
  fetch(`${url}/tokenpool.v1.TokenService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-password": s.password, ...headers },
    body: JSON.stringify(body),
  });

describe("operations endpoints", () => {
  it("serves /healthz and /readyz without credentials", async () => {
    expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${s.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("counts RPCs by method and code, legacy routes by status, and exports pool gauges", async () => {
    const c = connectClient(s.url, s.password, "connect-binary-h2");
    const before = await scrape();
    await c.unary("assignToken", { pool: "default", owner: "m" });
    await c.unary("assignToken", { pool: "nope", owner: "m" }).catch(() => undefined);
    await c.unary("getPool", { name: "default" }, { password: "wrong" }).catch(() => undefined);
    await fetch(`${s.url}/tokens`, { headers: { "x-api-password": s.password } });
    const after = await scrape();
    const delta = (name: string, labels: string) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta("tokenpool_rpc_total", 'method="AssignToken",code="ok"')).toBe(1);
    expect(delta("tokenpool_rpc_total", 'method="AssignToken",code="not_found"')).toBe(1);
    expect(delta("tokenpool_rpc_total", 'method="GetPool",code="unauthenticated"')).toBe(1);
    expect(delta("tokenpool_auth_failures_total", 'protocol="rpc"')).toBe(1);
    expect(delta("tokenpool_http_requests_total", 'route="/tokens",status="200"')).toBe(1);
    expect(delta("tokenpool_http_request_duration_seconds_count", 'route="/tokens",status="200"')).toBe(1);
    expect(sample(after, "tokenpool_pool_held", 'pool="default"')).toBe(1);
    expect(sample(after, "tokenpool_pool_available", 'pool="default"')).toBe(2);
    expect(after).toContain("tokenpool_rpc_duration_seconds_bucket");
    expect(after).toContain("tokenpool_process_resident_memory_bytes");
    expect(after).not.toContain(s.password);
  });

  it("tells health watchers NOT_SERVING once shutdown begins", async () => {
    const t = await startTestServer("memory", ["--shutdown-grace", "3"]);
    const { createClient } = await import("@connectrpc/connect");
    const { createGrpcTransport } = await import("@connectrpc/connect-node");
    const { Health, HealthCheckResponse_ServingStatus: Status } = await import("../../gen/es/grpc/health/v1/health_pb.js");
    const health = createClient(Health, createGrpcTransport({ baseUrl: t.url }));
    const seen: number[] = [];
    const watching = (async () => {
      for await (const r of health.watch({ service: "tokenpool.v1.TokenService" })) {
        seen.push(r.status);
        if (r.status === Status.NOT_SERVING) return;
      }
    })().catch(() => undefined);
    const until = Date.now() + 5000;
    while (seen.length === 0 && Date.now() < until) await sleep(20);
    const closing = t.close();
    await watching;
    await closing;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
  });

  it("observes how late each lease and idle expiry ran", async () => {
    const c = connectClient(s.url, s.password, "connect-binary-h2");
    const before = await scrape();
    await c.unary("createPool", { name: "brief", leaseTtl: "0.050s", idleTtl: "0.100s", initialTokens: 1 });
    await c.unary("assignToken", { pool: "brief", owner: "late" });
    // The lease ends at 50 ms; the token, never renewed, idles out at 100 ms.
    let after = before;
    for (let i = 0; i < 100; i++) {
      await sleep(20);
      after = await scrape();
      if (sample(after, "tokenpool_expiry_lateness_seconds_count", "") - sample(before, "tokenpool_expiry_lateness_seconds_count", "") >= 2) break;
    }
    const count = sample(after, "tokenpool_expiry_lateness_seconds_count", "") - sample(before, "tokenpool_expiry_lateness_seconds_count", "");
    const sum = sample(after, "tokenpool_expiry_lateness_seconds_sum", "") - sample(before, "tokenpool_expiry_lateness_seconds_sum", "");
    expect(count).toBe(2);
    expect(sum).toBeGreaterThanOrEqual(0);
    expect(sum).toBeLessThan(1);
    // Both expiries happened: the token is gone (a zero total is left out of the JSON).
    expect((await c.unary("getPool", { name: "brief" })).pool).not.toHaveProperty("total");
  });

  it("counts a watcher cut off for falling behind", async () => {
    const t = await startTestServer("memory", ["--watch-buffer", "1", "--total-tokens", "0"]);
    try {
      const c = connectClient(t.url, t.password, "connect-binary-h2");
      const before = await scrape(t.url);
      const ended = (async () => {
        for await (const _ of c.watch({ pool: "default" })) void _;
        return "ended cleanly";
      })().catch((e: unknown) => e);
      // Wait until the stream is open, then publish far more events in one turn than it may queue.
      for (let i = 0; i < 100 && sample(await scrape(t.url), "tokenpool_watch_streams", "") < 1; i++) await sleep(20);
      await c.unary("generateTokens", { pool: "default", count: 50 });
      expect(await ended).toMatchObject({ code: "resource_exhausted", reason: "SLOW_CONSUMER" });
      const after = await scrape(t.url);
      expect(sample(after, "tokenpool_watch_dropped_total", "") - sample(before, "tokenpool_watch_dropped_total", "")).toBe(1);
      expect(sample(after, "tokenpool_rpc_total", 'method="WatchLeases",code="resource_exhausted"')).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("protects /metrics with METRICS_TOKEN when set, and only /metrics", async () => {
    const t = await startTestServer("memory", ["--metrics-token", "scrape-secret-9"]);
    try {
      expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
      const wrong = await fetch(`${t.url}/metrics`, { headers: { authorization: "Bearer nope" } });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer/);
      // The API password is a different secret: it does not open /metrics.
      expect((await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.password}` } })).status).toBe(401);
      const ok = await fetch(`${t.url}/metrics`, { headers: { authorization: "Bearer scrape-secret-9" } });
      expect(ok.status).toBe(200);
      const text = await ok.text();
      expect(sample(text, "tokenpool_auth_failures_total", 'protocol="metrics"')).toBe(3);
      expect(text).not.toContain("scrape-secret-9");
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it("echoes the caller's x-request-id (or a fresh one) on RPCs, errors and plain HTTP routes", async () => {
    const ok = await connectJson(s.url, "GetPool", { name: "default" }, { "x-request-id": "req-abc-123" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-request-id")).toBe("req-abc-123");
    const missing = await connectJson(s.url, "GetPool", { name: "nope" }, { "x-request-id": "req-missing-1" });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBe("req-missing-1");
    const unauthenticated = await connectJson(s.url, "GetPool", { name: "default" }, { "x-api-password": "wrong", "x-request-id": "req-auth" });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get("x-request-id")).toBe("req-auth");

    const fresh = await connectJson(s.url, "GetPool", { name: "default" });
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    // Ids that would not be safe in a header or a log line are replaced, not echoed.
    const tooLong = await connectJson(s.url, "GetPool", { name: "default" }, { "x-request-id": "x".repeat(500) });
    expect(tooLong.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    const legacy = await fetch(`${s.url}/tokens`, { headers: { "x-api-password": s.password, "x-request-id": "legacy-7" } });
    expect(legacy.headers.get("x-request-id")).toBe("legacy-7");
    expect(await legacy.json()).toHaveProperty("available_tokens");
    expect((await fetch(`${s.url}/readyz`, { headers: { "x-request-id": "probe-1" } })).headers.get("x-request-id")).toBe("probe-1");

    // gRPC: the id comes back in the response headers.
    const { createClient } = await import("@connectrpc/connect");
    const { createGrpcTransport } = await import("@connectrpc/connect-node");
    const { TokenService } = await import("../../gen/es/tokenpool/v1/token_service_pb.js");
    const grpc = createClient(TokenService, createGrpcTransport({ baseUrl: s.url }));
    let header: Headers | undefined;
    await grpc.getPool({ name: "default" }, { headers: { "x-api-password": s.password, "x-request-id": "grpc-9" }, onHeader: (h) => (header = h) });
    expect(header?.get("x-request-id")).toBe("grpc-9");
    const { ConnectError } = await import("@connectrpc/connect");
    const grpcFailure = await grpc
      .getPool({ name: "nope" }, { headers: { "x-api-password": s.password, "x-request-id": "grpc-10" } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(grpcFailure instanceof ConnectError && grpcFailure.metadata.get("x-request-id")).toBe("grpc-10");
  });
});
