// Operator endpoints: liveness, readiness (flips during shutdown), and Prometheus metrics whose
// values move when RPCs and legacy calls run.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient } from "../support/clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "3"]);
});
afterAll(async () => {
  await s.close();
});

const scrape = async (): Promise<string> => (await fetch(`${s.url}/metrics`)).text();
const sample = (text: string, name: string, labels: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
};

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
    while (seen.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const closing = t.close();
    await watching;
    await closing;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
  });
});
