// `buf curl` from outside the project's code: gRPC with server reflection (v1 and v1alpha, no local
// schema), service and method listing, Connect and gRPC-Web with the local schema, a server stream,
// and the health service.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";

const run = promisify(execFile);
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
const PROTO = fileURLToPath(new URL("../../proto", import.meta.url));

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory", ["--total-tokens", "2"]);
});
afterAll(async () => {
  await s?.close();
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

  it("lists the services through reflection", async () => {
    const r = await bufCurl(["--http2-prior-knowledge", "--list-services", s.url]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n").sort()).toEqual(
      ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", "tokenpool.v1.TokenService"].sort(),
    );
  });

  it("assigns a token over gRPC with reflection as buf curl picks it by default", async () => {
    const r = await bufCurl([
      "--protocol", "grpc", "--http2-prior-knowledge",
      "-H", `x-api-password: ${s.password}`,
      "-d", '{"pool":"default","owner":"me"}',
      `${s.url}/tokenpool.v1.TokenService/AssignToken`,
    ]);
    expect(r.code).toBe(0);
    const { lease } = JSON.parse(r.out) as { lease: { pool: string; owner: string; token: string; leaseTtl: string; expireTime: string } };
    expect(lease).toMatchObject({ pool: "default", owner: "me", leaseTtl: "60s" });
    expect(Date.parse(lease.expireTime)).toBeGreaterThan(Date.now());
    await connectClient(s.url, s.password, "grpc-h2").unary("releaseToken", { pool: "default", token: lease.token });
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

  for (const protocol of ["connect", "grpcweb"]) {
    it(`assigns and reads a pool over ${protocol} (HTTP/1.1) with the local schema`, async () => {
      const common = ["--protocol", protocol, "--schema", PROTO, "-H", `x-api-password: ${s.password}`];
      const assigned = await bufCurl([...common, "-d", `{"pool":"default","owner":"buf-${protocol}"}`, `${s.url}/tokenpool.v1.TokenService/AssignToken`]);
      expect(assigned.code).toBe(0);
      const { lease, available } = JSON.parse(assigned.out) as { lease: { owner: string; token: string; generation: string }; available?: number };
      expect(lease.owner).toBe(`buf-${protocol}`);
      expect(available ?? 0).toBe(1);
      const got = await bufCurl([...common, "-d", '{"name":"default"}', `${s.url}/tokenpool.v1.TokenService/GetPool`]);
      expect(got.code).toBe(0);
      expect(JSON.parse(got.out)).toMatchObject({ pool: { name: "default", total: 2, held: 1, available: 1 } });
      const released = await bufCurl([...common, "-d", JSON.stringify({ pool: "default", token: lease.token, generation: lease.generation }), `${s.url}/tokenpool.v1.TokenService/ReleaseToken`]);
      expect(JSON.parse(released.out)).toEqual({ available: 2 });
    });
  }

  it("streams WatchLeases, replayed from a sequence, until its timeout", async () => {
    const c = connectClient(s.url, s.password, "grpc-h2");
    const { pool } = await c.unary("getPool", { name: "default" });
    const after = Number((pool as { sequence?: string }).sequence ?? 0);
    const { lease } = (await c.unary("assignToken", { pool: "default", owner: "buf-watch" })) as { lease: { token: string } };
    await c.unary("releaseToken", { pool: "default", token: lease.token });
    const r = await bufCurl([
      "--protocol", "grpc", "--http2-prior-knowledge", "--timeout", "2s",
      "-H", `x-api-password: ${s.password}`,
      "-d", JSON.stringify({ pool: "default", afterSequence: String(after) }),
      `${s.url}/tokenpool.v1.TokenService/WatchLeases`,
    ]);
    // One JSON document per message; the deadline ends the endless stream.
    const docs = r.out.split(/\n(?=\{)/).map((d) => JSON.parse(d) as { event?: { type: string; owner: string; sequence: string }; code?: string });
    // The server stops the stream at the same deadline and (for now) ends it with OK, so whether buf
    // reports deadline_exceeded depends on which side gets there first.
    if (r.code !== 0) expect(docs.at(-1)?.code).toBe("deadline_exceeded");
    const events = docs.flatMap((d) => (d.event ? [d.event] : []));
    expect(events.map((e) => [e.type, e.owner, Number(e.sequence)])).toEqual([
      ["LEASE_EVENT_TYPE_ASSIGNED", "buf-watch", after + 1],
      ["LEASE_EVENT_TYPE_RELEASED", "buf-watch", after + 2],
    ]);
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
