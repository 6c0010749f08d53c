// `buf curl` from outside the project's code: gRPC with server reflection (v1 and v1alpha, no local
// schema), method listing, and the Connect protocol; plus the health service.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient } from "../support/clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

const run = promisify(execFile);
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "2"]);
});
afterAll(async () => {
  await s.close();
});

async function bufCurl(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(BUF, ["curl", ...args], { timeout: 20_000 });
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

describe("buf curl", () => {
  it("lists every service method through reflection", async () => {
    const r = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", s.url]);
    expect(r.code).toBe(0);
    for (const m of ["AssignToken", "KeepAlive", "ReleaseToken", "WatchLeases", "CreatePool", "GetToken"]) {
      expect(r.out).toContain(`tokenpool.v1.TokenService/${m}`);
    }
    expect(r.out).toContain("grpc.health.v1.Health/Check");
  });

  for (const reflect of ["grpc-v1", "grpc-v1alpha"]) {
    it(`assigns a token over gRPC with ${reflect} reflection and no schema`, async () => {
      const r = await bufCurl([
        "--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", reflect,
        "-H", `x-api-password: ${s.password}`,
        "-d", JSON.stringify({ pool: "default", owner: `buf-${reflect}` }),
        `${s.url}/tokenpool.v1.TokenService/AssignToken`,
      ]);
      expect(r.code).toBe(0);
      const body = JSON.parse(r.out) as { lease: { owner: string; generation: string; token: string } };
      expect(body.lease.owner).toBe(`buf-${reflect}`);
      expect(Number(body.lease.generation)).toBeGreaterThan(0);
      await connectClient(s.url, s.password, "grpc-h2").unary("releaseToken", { pool: "default", token: body.lease.token });
    });
  }

  it("calls over the Connect protocol and reports errors with their details", async () => {
    const ok = await bufCurl(["--protocol", "connect", "-H", `x-api-password: ${s.password}`, "-d", '{"name":"default"}', `${s.url}/tokenpool.v1.TokenService/GetPool`]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ pool: { name: "default", total: 2 } });
    const denied = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"name":"default"}', `${s.url}/tokenpool.v1.TokenService/GetPool`]);
    expect(denied.out).toContain("unauthenticated");
    expect(denied.out).toContain("google.rpc.ErrorInfo");
  });

  it("checks health without credentials", async () => {
    const r = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-d", "{}", `${s.url}/grpc.health.v1.Health/Check`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ status: "SERVING" });
    const named = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"service":"tokenpool.v1.TokenService"}', `${s.url}/grpc.health.v1.Health/Check`]);
    expect(JSON.parse(named.out)).toEqual({ status: "SERVING" });
    const unknown = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"service":"nope"}', `${s.url}/grpc.health.v1.Health/Check`]);
    expect(unknown.out).toContain("not_found");
  });
});
