// The stream-level auth gate (issue 19, defect 4): on HTTP/2, a call without valid credentials is
// answered from its stream's headers, before grpc-js or Node's compat layer build anything for it.
// Only that path counts tokenpool_auth_rejected_at_stream_total, so the counter tells which gate
// answered; the answers themselves are the request-level gates' (auth-before-body.test.ts and the
// conformance suite compare them across protocols). On both engines, a connection that carried a
// rejected call keeps serving authenticated ones.

import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { injectorHttp2Server } from "../../src/transport/grpc/injector-server.js";
import { startTestServer, type TestServer } from "../harness/server.js";

const RPC = "/tokenpool.v1.TokenService";
const ORIGIN = "https://app.example.com";

interface Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

function call(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, ...headers });
    let got: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (got = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", reject);
    req.on("close", () => resolve({ status: Number(got[":status"]), headers: got, trailers, body: Buffer.concat(chunks) }));
    req.setTimeout(10_000, () => reject(new Error(`no answer to ${path} within 10 s`)));
    req.end(body);
  });
}

const envelope = (payload: Buffer): Buffer => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
};
/** GetPoolRequest{name: "default"} */
const GET_POOL = Buffer.from([0x0a, 0x07, ...Buffer.from("default")]);
const grpcHeaders = (extra: Record<string, string> = {}): Record<string, string> => ({ "content-type": "application/grpc", te: "trailers", ...extra });
/** grpc-status from the trailers, or from the headers of a trailers-only answer (grpc-js). */
const grpcStatus = (a: Answer): string => String(a.trailers["grpc-status"] ?? a.headers["grpc-status"]);

async function metric(s: TestServer, line: RegExp): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  return Number(line.exec(text)?.[1] ?? "0");
}
const AT_STREAM = /^tokenpool_auth_rejected_at_stream_total (\d+)/m;
const FAILURES = /^tokenpool_auth_failures_total\{protocol="rpc"\} (\d+)/m;
const UNAUTH_GET_POOL = /^tokenpool_rpc_total\{method="GetPool",code="unauthenticated"\} (\d+)/m;

describe.each(["grpc-js", "connect"] as const)("the stream-level auth gate, --grpc-engine %s", (engine) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer("memory", ["--grpc-engine", engine, "--cors-origin", ORIGIN]);
  });
  afterAll(() => s?.close());

  it("answers gRPC without credentials from the stream, and serves an authenticated call on the same connection after it", async () => {
    const session = http2.connect(s.url);
    session.on("error", () => undefined);
    try {
      const [atStream, failures, unauth] = [await metric(s, AT_STREAM), await metric(s, FAILURES), await metric(s, UNAUTH_GET_POOL)];
      const rejected = await call(session, `${RPC}/GetPool`, grpcHeaders({ "x-request-id": "stream-gate-1" }), envelope(GET_POOL));
      expect(rejected.status).toBe(200);
      expect(grpcStatus(rejected)).toBe("16");
      const end = rejected.trailers["grpc-status"] !== undefined ? rejected.trailers : rejected.headers;
      expect(end["x-request-id"]).toBe("stream-gate-1");
      expect(end["grpc-status-details-bin"]).toMatch(/\S/);
      // Counted by the stream-level gate, and as every rejection is (failure log, RPC metrics).
      expect(await metric(s, AT_STREAM)).toBe(atStream + 1);
      expect(await metric(s, FAILURES)).toBe(failures + 1);
      expect(await metric(s, UNAUTH_GET_POOL)).toBe(unauth + 1);

      const ok = await call(session, `${RPC}/GetPool`, grpcHeaders({ "x-api-password": s.password }), envelope(GET_POOL));
      expect(grpcStatus(ok)).toBe("0");
      expect(ok.body.length).toBeGreaterThan(5); // the pool, in an envelope
      const wrong = await call(session, `${RPC}/GetPool`, grpcHeaders({ authorization: "Bearer not-it" }), envelope(GET_POOL));
      expect(grpcStatus(wrong)).toBe("16");
      expect(await metric(s, AT_STREAM)).toBe(atStream + 2);
      const again = await call(session, `${RPC}/GetPool`, grpcHeaders({ authorization: `Bearer ${s.password}` }), envelope(GET_POOL));
      expect(grpcStatus(again)).toBe("0");
    } finally {
      session.destroy();
    }
  });

  it("answers Connect without credentials from the stream (401), and keeps the connection usable after rejected uploads larger than its window", async () => {
    const session = http2.connect(s.url);
    session.on("error", () => undefined);
    try {
      const atStream = await metric(s, AT_STREAM);
      const json = { "content-type": "application/json" };
      const rejected = await call(session, `${RPC}/GetPool`, json, Buffer.from('{"name":"default"}'));
      expect(rejected.status).toBe(401);
      expect(JSON.parse(rejected.body.toString())).toMatchObject({ code: "unauthenticated", details: [{ type: "google.rpc.ErrorInfo" }] });
      expect(rejected.headers["x-request-id"]).toMatch(/\S/);
      // CORS is on: every answer varies by Origin, as withCors marks them.
      expect(rejected.headers.vary).toBe("Origin");
      // Rejected bodies are drained unparsed: were their flow-control credit kept, the 64 KiB
      // connection window would be gone after the first and the call below would never be answered.
      for (let i = 0; i < 4; i++) expect((await call(session, `${RPC}/GetPool`, json, Buffer.alloc(1024 * 1024, 0x5a))).status).toBe(401);
      expect(await metric(s, AT_STREAM)).toBe(atStream + 5);
      const ok = await call(session, `${RPC}/GetPool`, { ...json, "x-api-password": s.password }, Buffer.from('{"name":"default"}'));
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body.toString())).toMatchObject({ pool: { name: "default" } });
    } finally {
      session.destroy();
    }
  });

  it("leaves a request naming an Origin to the request-level gate, which adds the CORS headers", async () => {
    const session = http2.connect(s.url);
    session.on("error", () => undefined);
    try {
      const [atStream, failures] = [await metric(s, AT_STREAM), await metric(s, FAILURES)];
      const rejected = await call(session, `${RPC}/GetPool`, { "content-type": "application/json", origin: ORIGIN }, Buffer.from("{}"));
      expect(rejected.status).toBe(401);
      expect(rejected.headers["access-control-allow-origin"]).toBe(ORIGIN);
      expect(await metric(s, FAILURES)).toBe(failures + 1);
      expect(await metric(s, AT_STREAM)).toBe(atStream);
    } finally {
      session.destroy();
    }
  });
});

describe("grpc-js's HTTP/2 server", () => {
  it("is where injector-server.ts finds it (pinned grpc-js: the stream-level gate and the deadline clamp need it)", () => {
    const server = new grpc.Server();
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    try {
      const h2 = injectorHttp2Server(server);
      expect(h2).toBeDefined();
      // grpc-js's own stream handler is there to be put behind the gate.
      expect(h2?.listenerCount("stream")).toBe(1);
      expect(h2?.listenerCount("session")).toBeGreaterThan(0);
    } finally {
      injector.destroy();
      server.forceShutdown();
    }
  });
});
