// CORS (--cors-origin) at the HTTP level: an allowed origin's preflight is answered with what
// connect-es's browser transports send and read; any other origin, and a server without the flag,
// gets no CORS headers at all. Invalid origins stop the configuration. (browser.test.ts: Chromium.)

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { startTestServer, type TestServer } from "../harness/server.js";

const ALLOWED = "http://127.0.0.1:5173";
const ASSIGN = "/tokenpool.v1.TokenService/AssignToken";
let on: TestServer;
let off: TestServer;
beforeAll(async () => {
  on = await startTestServer("memory", ["--cors-origin", `https://app.example.com, ${ALLOWED}`]);
  off = await startTestServer("memory");
});
afterAll(async () => {
  await on?.close();
  await off?.close();
});

const preflight = (s: TestServer, origin: string) =>
  fetch(`${s.url}${ASSIGN}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version,x-api-password" },
  });

const assign = (s: TestServer, origin: string, password = s.password) =>
  fetch(`${s.url}${ASSIGN}`, {
    method: "POST",
    headers: { origin, "content-type": "application/json", "x-api-password": password },
    body: JSON.stringify({ pool: "default", owner: "cors" }),
  });

describe("--cors-origin", () => {
  it("answers an allowed origin's preflight with the methods and headers the browser transports use", async () => {
    const res = await preflight(on, ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(res.headers.get("access-control-allow-methods")).toBe("POST, GET");
    const allowed = res.headers.get("access-control-allow-headers")!.toLowerCase().split(", ");
    for (const h of ["content-type", "connect-protocol-version", "connect-timeout-ms", "x-grpc-web", "grpc-timeout", "x-api-password", "authorization", "x-request-id"]) expect(allowed).toContain(h);
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("lets an allowed origin read answers and errors, gRPC-Web status and request id included", async () => {
    const ok = await assign(on, ALLOWED);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    const exposed = ok.headers.get("access-control-expose-headers")!.toLowerCase().split(", ");
    for (const h of ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-request-id"]) expect(exposed).toContain(h);
    // The auth gate's early refusal carries them too: the page can read why it was refused.
    const refused = await assign(on, ALLOWED, "wrong");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe(ALLOWED);
  });

  it("gives an origin not on the list nothing CORS", async () => {
    const pre = await preflight(on, "http://127.0.0.1:5174");
    expect(pre.status).not.toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const res = await assign(on, "https://evil.example");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("is off by default", async () => {
    const pre = await preflight(off, ALLOWED);
    expect(pre.status).not.toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect((await assign(off, ALLOWED)).headers.get("access-control-allow-origin")).toBeNull();
    expect(off.config.corsOrigins).toEqual([]);
  });

  it("accepts origins and * only", () => {
    const load = (v: string) => loadConfig(["--cors-origin", v], {});
    expect(load("*")).toMatchObject({ corsOrigins: ["*"] });
    expect(loadConfig([], { CORS_ORIGIN: "https://a.example:8443,http://127.0.0.1:3000" })).toMatchObject({ corsOrigins: ["https://a.example:8443", "http://127.0.0.1:3000"] });
    for (const bad of ["https://a.example/", "https://a.example/app", "a.example", "ftp://a.example", "https://a.example:99999"]) {
      expect(() => load(bad), bad).toThrow(ConfigError);
    }
    expect(() => load("https://a.example/")).toThrow(/--cors-origin="https:\/\/a.example\/": "https:\/\/a.example\/" is not an origin/);
  });
});
