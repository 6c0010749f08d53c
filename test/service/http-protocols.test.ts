// Protocol details a client sees beyond the conformance suite: Connect JSON HTTP statuses and error
// bodies, both auth header forms, and HTTP/1.1 and h2c on the one port.

import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../harness/server.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "1"]);
});
afterAll(async () => {
  await s.close();
});

async function post(method: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}/tokenpool.v1.TokenService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-password": s.password, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("Connect JSON over HTTP/1.1", () => {
  it("maps error codes to HTTP statuses with an ErrorInfo detail", async () => {
    await post("CreatePool", { name: "http-a", initialTokens: 1 });
    expect((await post("AssignToken", { pool: "http-a", owner: "x" })).status).toBe(200);
    const exhausted = await post("AssignToken", { pool: "http-a", owner: "y" });
    expect(exhausted.status).toBe(404);
    expect(exhausted.body.code).toBe("not_found");
    const details = exhausted.body.details as { type: string; value: string; debug?: unknown }[];
    expect(details[0]?.type).toBe("google.rpc.ErrorInfo");
    expect((await post("AssignToken", { pool: "nope", owner: "y" })).status).toBe(404);
    expect((await post("CreatePool", { name: "http-a" })).status).toBe(409);
    expect((await post("CreatePool", { name: "" })).status).toBe(400);
    expect((await post("ReleaseToken", { pool: "http-a", token: "missing" })).status).toBe(404);
    const unauth = await post("GetPool", { name: "http-a" }, { "x-api-password": "" });
    expect(unauth.status).toBe(401);
    expect(unauth.body.code).toBe("unauthenticated");
  });

  it("accepts Authorization: Bearer as well as X-API-PASSWORD", async () => {
    const res = await fetch(`${s.url}/tokenpool.v1.TokenService/GetPool`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${s.password}` },
      body: JSON.stringify({ name: "default" }),
    });
    expect(res.status).toBe(200);
    const wrong = await fetch(`${s.url}/tokenpool.v1.TokenService/GetPool`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer nope` },
      body: JSON.stringify({ name: "default" }),
    });
    expect(wrong.status).toBe(401);
  });

  it("rejects malformed JSON with invalid_argument and keeps serving", async () => {
    const res = await fetch(`${s.url}/tokenpool.v1.TokenService/AssignToken`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-password": s.password },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
    expect((await post("GetPool", { name: "default" })).status).toBe(200);
  });

  it("rejects bodies over the request size limit", async () => {
    const huge = { pool: "default", tokens: ["x".repeat(5 * 1024 * 1024)] };
    const res = await post("KeepAlive", huge);
    expect(res.status).toBe(429);
    expect(res.body.code).toBe("resource_exhausted");
  });

  it("answers unknown paths with a JSON 404", async () => {
    const res = await fetch(`${s.url}/no/such/route`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found" });
  });
});

describe("one port, two HTTP versions", () => {
  it("serves HTTP/2 prior-knowledge (h2c) on the same port as HTTP/1.1", async () => {
    const session = http2.connect(s.url);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/tokenpool.v1.TokenService/GetPool",
          "content-type": "application/json",
          "x-api-password": s.password,
        });
        let status = 0;
        let body = "";
        req.on("response", (h) => (status = Number(h[":status"])));
        req.setEncoding("utf8");
        req.on("data", (c: string) => (body += c));
        req.on("end", () => resolve({ status, body }));
        req.on("error", reject);
        req.end(JSON.stringify({ name: "default" }));
      });
      expect(status).toBe(200);
      expect(JSON.parse(body).pool.name).toBe("default");
    } finally {
      session.close();
    }
  });
});
