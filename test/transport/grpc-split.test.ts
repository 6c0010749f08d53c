// The one-port split between the two gRPC engines: an HTTP/2 connection whose first request is gRPC
// goes to grpc-js for good, every other one to connect-node. Mixed connections get a clear answer
// (never a hang), clients that wait for the server's SETTINGS are served, and grpc-js answers carry
// the same request ids, status details and metrics as the Connect path.

import http2 from "node:http2";
import net from "node:net";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import hpack from "hpack.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/es/google/rpc/status_pb.js";
import { AssignTokenRequestSchema, GetPoolRequestSchema, WatchLeasesRequestSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { createRegistry } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health } from "../../gen/es/grpc/health/v1/health_pb.js";
import { connectClient, type RpcError } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
const EMPTY_ENVELOPE = Buffer.alloc(5);

interface Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

function request(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, ...headers });
    let got: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (got = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve({ status: Number(got[":status"]), headers: got, trailers, body: Buffer.concat(chunks) }));
    req.on("error", reject);
    req.setTimeout(5000, () => reject(new Error(`no answer to ${path} within 5 s`)));
    req.end(body);
  });
}

const grpcHeaders = (extra: Record<string, string> = {}): Record<string, string> => ({ "content-type": "application/grpc", te: "trailers", ...extra });

function envelope(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** grpc-status from trailers, or from headers for a trailers-only answer. */
const grpcStatus = (a: Answer): string | undefined => String(a.trailers["grpc-status"] ?? a.headers["grpc-status"]);

describe("one port, two gRPC engines", () => {
  let s: TestServer;
  let connectEngine: TestServer;
  beforeAll(async () => {
    [s, connectEngine] = await Promise.all([startTestServer("memory"), startTestServer("memory", ["--grpc-engine", "connect"])]);
  });
  afterAll(async () => {
    await Promise.all([s.close(), connectEngine.close()]);
  });

  it("a connection that starts with gRPC is grpc-js's: a Connect request on it gets 415, not a hang", async () => {
    const session = http2.connect(s.url);
    try {
      const first = await request(session, HEALTH_CHECK, grpcHeaders(), EMPTY_ENVELOPE);
      expect({ status: first.status, grpc: grpcStatus(first) }).toEqual({ status: 200, grpc: "0" });
      const connect = await request(session, HEALTH_CHECK, { "content-type": "application/json" }, Buffer.from("{}"));
      expect(connect.status).toBe(415);
      // gRPC-Web's request framing is gRPC's, so grpc-js answers it as gRPC: a content type no gRPC-Web
      // client accepts, and trailers where it does not look. It fails at once; it does not wait.
      const web = await request(session, HEALTH_CHECK, { "content-type": "application/grpc-web+proto" }, EMPTY_ENVELOPE);
      expect(web.headers["content-type"]).toBe("application/grpc+proto");
      // The connection itself is fine: gRPC goes on working on it.
      expect(grpcStatus(await request(session, HEALTH_CHECK, grpcHeaders(), EMPTY_ENVELOPE))).toBe("0");
    } finally {
      session.close();
    }
  });

  it("connect-es clients sharing one HTTP/2 session after a gRPC call get errors, not hangs", async () => {
    const sessionManager = new Http2SessionManager(s.url);
    const options = { baseUrl: s.url, httpVersion: "2", sessionManager } as const;
    try {
      expect(await createClient(Health, createGrpcTransport(options)).check({})).toMatchObject({ status: 1 });
      const connect = createClient(Health, createConnectTransport(options)).check({}, { timeoutMs: 5000 });
      await expect(connect).rejects.toThrow(/HTTP 415/);
      const web = createClient(Health, createGrpcWebTransport(options)).check({}, { timeoutMs: 5000 });
      await expect(web).rejects.toSatisfy((e) => e instanceof ConnectError && e.code !== Code.DeadlineExceeded);
    } finally {
      sessionManager.abort();
    }
  });

  it("a connection that starts with Connect or gRPC-Web is connect-node's, which serves gRPC on it too", async () => {
    for (const first of [{ "content-type": "application/json" }, { "content-type": "application/grpc-web+proto" }]) {
      const session = http2.connect(s.url);
      try {
        const a = await request(session, HEALTH_CHECK, first, first["content-type"] === "application/json" ? Buffer.from("{}") : EMPTY_ENVELOPE);
        expect(a.status).toBe(200);
        const grpc = await request(session, HEALTH_CHECK, grpcHeaders(), EMPTY_ENVELOPE);
        expect({ status: grpc.status, grpc: grpcStatus(grpc) }).toEqual({ status: 200, grpc: "0" });
        // connect-node took the connection: a Connect call after the gRPC one is still served.
        expect((await request(session, HEALTH_CHECK, { "content-type": "application/json" }, Buffer.from("{}"))).status).toBe(200);
      } finally {
        session.close();
      }
    }
  });

  it("with --grpc-engine connect, every connection is connect-node's whatever it starts with", async () => {
    const session = http2.connect(connectEngine.url);
    try {
      expect(grpcStatus(await request(session, HEALTH_CHECK, grpcHeaders(), EMPTY_ENVELOPE))).toBe("0");
      expect((await request(session, HEALTH_CHECK, { "content-type": "application/json" }, Buffer.from("{}"))).status).toBe(200);
    } finally {
      session.close();
    }
  });

  it("serves a client that sends no request before it has the server's SETTINGS (as grpc-go does)", async () => {
    const socket = net.connect(s.server.port, "127.0.0.1");
    const frames = frameReader(socket);
    try {
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), frame(0x4, 0, 0, Buffer.alloc(0))]));
      // Nothing more is sent until a SETTINGS frame arrives.
      const settings = await frames.next((f) => f.type === 0x4 && (f.flags & 0x1) === 0, 3000);
      expect(settings.stream).toBe(0);
      const block = hpack.compressor.create({ table: { size: 4096 } });
      block.write([
        { name: ":method", value: "POST" },
        { name: ":scheme", value: "http" },
        { name: ":path", value: HEALTH_CHECK },
        { name: ":authority", value: "127.0.0.1" },
        { name: "content-type", value: "application/grpc" },
        { name: "te", value: "trailers" },
      ]);
      socket.write(Buffer.concat([frame(0x4, 0x1, 0, Buffer.alloc(0)), frame(0x1, 0x4, 1, block.read()), frame(0x0, 0x1, 1, EMPTY_ENVELOPE)]));
      const decoder = hpack.decompressor.create({ table: { size: 4096 } });
      const headers = new Map<string, string>();
      for (;;) {
        const f = await frames.next((x) => x.stream === 1 && (x.type === 0x1 || x.type === 0x3), 3000);
        expect(f.type, "the stream was reset").toBe(0x1);
        decoder.write(f.payload);
        decoder.execute();
        for (let h = decoder.read(); h !== null; h = decoder.read()) headers.set(h.name, h.value);
        if (f.flags & 0x1) break;
      }
      expect({ status: headers.get(":status"), grpc: headers.get("grpc-status") }).toEqual({ status: "200", grpc: "0" });
      expect(frames.seen.some((f) => f.type === 0x7), "the server sent GOAWAY").toBe(false);
    } finally {
      socket.destroy();
    }
  });

  it("shutdown drains both engines: watches on grpc-js and on connect-node end UNAVAILABLE, close() returns", async () => {
    const own = await startTestServer("memory");
    const grpc = connectClient(own.url, own.password, "grpc-h2");
    const connect = connectClient(own.url, own.password, "connect-binary-h2");
    const ended = [grpc, connect].map(async (c) => {
      try {
        for await (const _ of c.watch({ pool: "default" })) void _;
        return "clean";
      } catch (e) {
        return (e as RpcError).reason ?? (e as RpcError).code;
      }
    });
    await sleep(300);
    const started = Date.now();
    await own.close();
    expect(await Promise.all(ended)).toEqual(["SHUTDOWN", "SHUTDOWN"]);
    // --shutdown-grace 1 in the test server: nothing had to wait for the grace deadline.
    expect(Date.now() - started).toBeLessThan(1000);
    grpc.close();
    connect.close();
  });

  it("a grpc-js WatchLeases whose client stopped reading is cut at the write-stall limit, freeing its slot", async () => {
    const own = await startTestServer("memory", ["--write-stall-timeout", "1"]);
    const session = http2.connect(own.url);
    try {
      const pool = "stall";
      const admin = connectClient(own.url, own.password, "connect-binary-h2");
      await admin.unary("createPool", { name: pool, initialTokens: 1 });
      const body = envelope(toBinary(WatchLeasesRequestSchema, create(WatchLeasesRequestSchema, { pool })));
      const req = session.request({ ":method": "POST", ":path": "/tokenpool.v1.TokenService/WatchLeases", ...grpcHeaders({ "x-api-password": own.password }) });
      req.on("error", () => undefined);
      req.end(body);
      req.pause(); // never reads: flow control fills, the server's writes stop draining
      const streams = async (): Promise<number> => Number(/^tokenpool_watch_streams (\d+)/m.exec(await (await fetch(`${own.url}/metrics`)).text())?.[1]);
      await sleep(200);
      expect(await streams()).toBe(1);
      // Enough events to fill the client's window (64 KiB) and grpc-js's buffer many times over.
      for (let i = 0; i < 800; i++) {
        const lease = (await admin.unary("assignToken", { pool, owner: "o" })).lease as { token: string };
        await admin.unary("releaseToken", { pool, token: lease.token });
      }
      const until = Date.now() + 5000;
      while ((await streams()) !== 0 && Date.now() < until) await sleep(100);
      expect(await streams()).toBe(0);
      admin.close();
    } finally {
      session.destroy();
      await own.close();
    }
  }, 30_000);

  it("grpc-js honours deadlines beyond 24.8 days (its own parser wraps them to an instant DEADLINE_EXCEEDED)", async () => {
    const c = connectClient(s.url, s.password, "connect-binary-h2");
    try {
      await c.unary("createPool", { name: "deadline-clamp", initialTokens: 1 });
      await c.unary("assignToken", { pool: "deadline-clamp", owner: "holder" });
    } finally {
      c.close();
    }
    /** An AssignToken that waits `waitMs` for a token of the full pool, under grpc-timeout `timeout`. */
    const waitingAssign = async (timeout: string, waitMs: number): Promise<{ grpc: string | undefined; ms: number }> => {
      const body = toBinary(AssignTokenRequestSchema, create(AssignTokenRequestSchema, { pool: "deadline-clamp", owner: "waiter", waitTimeout: { nanos: waitMs * 1e6 } }));
      const started = Date.now();
      const a = await request(session, "/tokenpool.v1.TokenService/AssignToken", grpcHeaders({ "grpc-timeout": timeout, "x-api-password": s.password }), envelope(body));
      return { grpc: grpcStatus(a), ms: Date.now() - started };
    };
    const session = http2.connect(s.url);
    try {
      // The wait runs out (POOL_EXHAUSTED, NOT_FOUND in the error table), not the deadline.
      // Overflowing ones (clamped), and invalid ones grpc-js would read a piece of (dropped: no deadline).
      for (const timeout of ["99999999H", "2562047H", "30000000S", "100000000S", "-1S", "1S0"]) {
        const r = await waitingAssign(timeout, 300);
        expect({ timeout, grpc: r.grpc }).toEqual({ timeout, grpc: "5" });
        expect(r.ms).toBeGreaterThanOrEqual(250);
      }
      // A deadline shorter than the wait still ends the call first.
      const short = await waitingAssign("200m", 900);
      expect(short.grpc).toBe("4");
      expect(short.ms).toBeLessThan(800);
    } finally {
      session.close();
    }
  });

  it("grpc-js answers carry the request id, google.rpc.Status details and the same metrics labels", async () => {
    const session = http2.connect(s.url);
    try {
      const body = envelope(toBinary(GetPoolRequestSchema, create(GetPoolRequestSchema, { name: "no-such-pool" })));
      const a = await request(session, "/tokenpool.v1.TokenService/GetPool", grpcHeaders({ "x-api-password": s.password, "x-request-id": "split-test-1" }), body);
      expect(grpcStatus(a)).toBe("5");
      const trailers = { ...a.headers, ...a.trailers };
      expect(trailers["x-request-id"]).toBe("split-test-1");
      expect(decodeURIComponent(String(trailers["grpc-message"]))).toBe('pool "no-such-pool" not found');
      const status = fromBinary(StatusSchema, Buffer.from(String(trailers["grpc-status-details-bin"]), "base64"));
      const info = status.details.map((d) => anyUnpack(d, createRegistry(ErrorInfoSchema))).find((m) => m?.$typeName === "google.rpc.ErrorInfo");
      expect(info).toMatchObject({ reason: "POOL_NOT_FOUND", domain: "tokenpool.dev", metadata: { pool: "no-such-pool" } });

      const unauthenticated = await request(session, "/tokenpool.v1.TokenService/GetPool", grpcHeaders({ "x-api-password": "wrong" }), body);
      expect(grpcStatus(unauthenticated)).toBe("16");

      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/tokenpool_rpc_total\{method="GetPool",code="not_found"\} [1-9]/);
      expect(metrics).toMatch(/tokenpool_rpc_total\{method="GetPool",code="unauthenticated"\} [1-9]/);
      expect(metrics).toMatch(/tokenpool_rpc_total\{method="Check",code="ok"\} [1-9]/);
      expect(metrics).toMatch(/tokenpool_auth_failures_total\{protocol="rpc"\} [1-9]/);
    } finally {
      session.close();
    }
  });
});

interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** Frames as they arrive on a raw socket; next() waits for the first unseen one matching. */
function frameReader(socket: net.Socket) {
  const seen: Frame[] = [];
  let taken = 0;
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      seen.push({ type: buffered[3]!, flags: buffered[4]!, stream: buffered.readUInt32BE(5) & 0x7fffffff, payload: buffered.subarray(9, 9 + length) });
      buffered = buffered.subarray(9 + length);
    }
    wake?.();
  });
  return {
    seen,
    async next(match: (f: Frame) => boolean, timeoutMs: number): Promise<Frame> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        while (taken < seen.length) {
          const f = seen[taken++]!;
          if (match(f)) return f;
        }
        if (Date.now() > until) throw new Error("expected frame did not arrive");
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
  };
}
