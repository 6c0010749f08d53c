// KeepAlive over Connect unary (JSON and binary, HTTP/1.1 and h2c) is answered from the store's records
// (src/transport/connect/keep-alive-route.ts). Every case sends the same bytes to a server on that path
// and to one answering KeepAlive with connect-es's own handler (connectKeepAliveEncoders: false), both
// on a frozen clock with the same pool history, and requires the same answer: status, headers, body.

import http from "node:http";
import http2 from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { fromBinary, fromJsonString, toBinary, create, toJsonString } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeepAliveRequestSchema, KeepAliveResponseSchema, KeepAliveStatus } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { systemClock, type Clock } from "../../src/runtime/clock.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { duration, tokenClient } from "../harness/token-client.js";

/** Renewals computed from this instant give the same times on both servers, call after call. */
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0, 250);
const frozen: Clock = { ...systemClock, now: () => NOW };
const MAX_REQUEST_BYTES = 65_536;
const POOL = "ka";
const TOKENS = Array.from({ length: 100 }, (_, i) => `t${String(i).padStart(3, "0")}`);
const PATH = "/tokenpool.v1.TokenService/KeepAlive";
const REQUEST_ID = "keep-alive-connect-test";

type Transport = "HTTP/1.1" | "h2c";
interface Request {
  readonly method?: string;
  readonly path?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}
interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Decompressed when the answer says content-encoding gzip. */
  readonly body: Buffer;
}

/** Headers that differ between two correct answers (the time), or that Node adds on its own per socket. */
const VARYING = new Set(["date"]);

interface Side {
  readonly server: TestServer;
  readonly session: http2.ClientHttp2Session;
  readonly agent: http.Agent;
}

let fast: Side;
let plain: Side;

async function side(connectKeepAliveEncoders: boolean): Promise<Side> {
  const server = await startTestServer("memory", ["--max-request-bytes", String(MAX_REQUEST_BYTES)], undefined, { clock: frozen, connectKeepAliveEncoders });
  // The same history on both: 100 named tokens, all held, leases of 60.5 s and an idle TTL of 90 s.
  const c = tokenClient(server.url, server.password);
  await c.createPool({ name: POOL, leaseTtl: duration(60_500), idleTtl: duration(90_000), maxTokens: TOKENS.length });
  // One token at a time, each assigned while it is the only free one: the same token gets the same
  // lease generation on both servers (an assign picks any free token).
  for (const token of TOKENS) {
    await c.generateTokens({ pool: POOL, tokens: [token] });
    await c.assignToken({ pool: POOL, owner: "owner-1" });
  }
  return { server, session: http2.connect(server.url), agent: new http.Agent({ keepAlive: true }) };
}

beforeAll(async () => {
  [fast, plain] = await Promise.all([side(true), side(false)]);
});
afterAll(async () => {
  for (const s of [fast, plain]) {
    s?.session.close();
    s?.agent.destroy();
    await s?.server.close();
  }
});

function decoded(headers: Record<string, string>, body: Buffer): Buffer {
  return headers["content-encoding"] === "gzip" ? gunzipSync(body) : body;
}

function sendH1(s: Side, r: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.server.url}${r.path ?? PATH}`, { method: r.method ?? "POST", headers: r.headers, agent: s.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (!VARYING.has(k) && v !== undefined) headers[k] = String(v);
        resolve({ status: res.statusCode ?? 0, headers, body: decoded(headers, Buffer.concat(chunks)) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(r.body);
  });
}

function sendH2(s: Side, r: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = s.session.request({ ":method": r.method ?? "POST", ":path": r.path ?? PATH, ...r.headers });
    const chunks: Buffer[] = [];
    let status = 0;
    const headers: Record<string, string> = {};
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(":") && !VARYING.has(k) && v !== undefined) headers[k] = String(v);
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve({ status, headers, body: decoded(headers, Buffer.concat(chunks)) }));
    stream.on("error", reject);
    stream.end(r.body);
  });
}

const send = (t: Transport, s: Side, r: Request): Promise<Answer> => (t === "HTTP/1.1" ? sendH1(s, r) : sendH2(s, r));

/** Both servers' answers to the same request; they must be equal. */
async function both(t: Transport, r: Request): Promise<Answer> {
  const a = await send(t, fast, r);
  const b = await send(t, plain, r);
  expect({ ...a, body: a.body.toString("latin1") }).toEqual({ ...b, body: b.body.toString("latin1") });
  return a;
}

const authed = (contentType: string, extra: Record<string, string> = {}): Record<string, string> => ({
  "content-type": contentType,
  "x-api-password": fast.server.password,
  "x-request-id": REQUEST_ID,
  ...extra,
});
const jsonBody = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const protoBody = (pool: string, tokens: readonly string[]): Buffer => Buffer.from(toBinary(KeepAliveRequestSchema, create(KeepAliveRequestSchema, { pool, tokens: [...tokens] })));

/** The Connect error body of an answer: code and message, and details (base64 of google.rpc messages). */
function connectError(a: Answer): { code: string; message: string } {
  expect(a.headers["content-type"]).toBe("application/json");
  return JSON.parse(a.body.toString("utf8")) as { code: string; message: string };
}

for (const t of ["HTTP/1.1", "h2c"] as const) {
  describe(`KeepAlive over Connect, ${t}`, () => {
    it("answers ×100 in JSON with the text connect-es writes (toJsonString of the same leases)", async () => {
      const a = await both(t, { headers: authed("application/json"), body: jsonBody({ pool: POOL, tokens: TOKENS }) });
      expect(a.status).toBe(200);
      expect(a.headers["content-type"]).toBe("application/json");
      const res = fromJsonString(KeepAliveResponseSchema, a.body.toString("utf8"));
      expect(res.results.map((r) => [r.token, r.status, Number(r.lease?.expireTime?.seconds)])).toEqual(TOKENS.map((tk) => [tk, KeepAliveStatus.OK, Math.floor((NOW + 60_500) / 1000)]));
      // Canonical text, as protobuf-es writes it from the decoded message.
      expect(a.body.toString("utf8")).toBe(toJsonString(KeepAliveResponseSchema, res));
    });

    it("answers ×100 in binary with the bytes connect-es writes; charset parameter and unknown tokens as connect-es", async () => {
      const a = await both(t, { headers: authed("application/proto"), body: protoBody(POOL, TOKENS) });
      expect(a.status).toBe(200);
      expect(a.headers["content-type"]).toBe("application/proto");
      const res = fromBinary(KeepAliveResponseSchema, a.body);
      expect(res.results).toHaveLength(100);
      expect(Buffer.from(toBinary(KeepAliveResponseSchema, res))).toEqual(a.body);
      const mixed = await both(t, { headers: authed("application/json; charset=utf-8"), body: jsonBody({ pool: POOL, tokens: ["t000", "nope"] }) });
      expect(JSON.parse(mixed.body.toString("utf8"))).toMatchObject({ results: [{ token: "t000", status: "KEEP_ALIVE_STATUS_OK" }, { token: "nope", status: "KEEP_ALIVE_STATUS_NOT_FOUND" }] });
      await both(t, { headers: authed("application/proto"), body: protoBody(POOL, ["nope", "t001"]) });
    });

    it("refuses malformed JSON, wrong field types, invalid UTF-8 and malformed binary as connect-es does", async () => {
      const bad = await both(t, { headers: authed("application/json"), body: Buffer.from('{"pool":"ka","tokens":[') });
      expect([bad.status, connectError(bad).code]).toEqual([400, "invalid_argument"]);
      const types = await both(t, { headers: authed("application/json"), body: Buffer.from('{"pool":7,"tokens":"t000"}') });
      expect([types.status, connectError(types).code]).toEqual([400, "invalid_argument"]);
      const utf8 = await both(t, { headers: authed("application/json"), body: Buffer.from([0x7b, 0x22, 0x70, 0x6f, 0x6f, 0x6c, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]) });
      expect(connectError(utf8).message).toContain("not valid UTF-8");
      const binary = await both(t, { headers: authed("application/proto"), body: Buffer.from([0x0a, 0x7f, 0x61]) });
      expect(binary.status).toBeGreaterThanOrEqual(400);
      await both(t, { headers: authed("application/json"), body: Buffer.alloc(0) });
      // An empty binary body is a valid empty request: the service's own check answers it.
      const empty = await both(t, { headers: authed("application/proto"), body: Buffer.alloc(0) });
      expect(connectError(empty).code).toBe("invalid_argument");
    });

    it("ignores unknown JSON fields (connect-es's ignoreUnknownFields, kept) and unknown binary fields", async () => {
      const a = await both(t, { headers: authed("application/json"), body: jsonBody({ pool: POOL, tokens: ["t002"], extra: { nested: [1] } }) });
      expect(a.status).toBe(200);
      // Field 15, varint 1: unknown to KeepAliveRequest.
      await both(t, { headers: authed("application/proto"), body: Buffer.concat([protoBody(POOL, ["t003"]), Buffer.from([0x78, 0x01])]) });
    });

    it("refuses a body over --max-request-bytes with the limit every method has", async () => {
      const big = jsonBody({ pool: POOL, tokens: TOKENS, pad: "x".repeat(MAX_REQUEST_BYTES) });
      const a = await both(t, { headers: authed("application/json"), body: big });
      expect([a.status, connectError(a).code]).toEqual([429, "resource_exhausted"]);
      // The same body to another method gets the same words, naming the same limit.
      const other = await send(t, fast, { path: "/tokenpool.v1.TokenService/ReleaseToken", headers: authed("application/json"), body: big });
      expect(connectError(other)).toEqual(connectError(a));
      const gz = await both(t, { headers: authed("application/json", { "content-encoding": "gzip" }), body: gzipSync(big) });
      expect(connectError(gz).code).toBe("resource_exhausted");
    });

    it("takes connect-timeout-ms as connect-es does (a valid deadline runs; a malformed one is refused)", async () => {
      // KeepAlive never waits, so even a deadline already due when the call starts does not cut it
      // (connect-es does not race a unary implementation against its deadline); one past Node's timer
      // range is dropped by the adapter guard (adapter-guards.ts).
      for (const value of ["60000", "0", "9999999999"]) {
        const ok = await both(t, { headers: authed("application/json", { "connect-timeout-ms": value }), body: jsonBody({ pool: POOL, tokens: ["t004"] }) });
        expect(ok.status).toBe(200);
      }
      for (const value of ["abc", "12345678901", "-1"]) {
        const a = await both(t, { headers: authed("application/json", { "connect-timeout-ms": value }), body: jsonBody({ pool: POOL, tokens: ["t004"] }) });
        expect(connectError(a).code).toBe("invalid_argument");
      }
    });

    it("refuses a call without the password or with a wrong one, as every method", async () => {
      const body = jsonBody({ pool: POOL, tokens: ["t005"] });
      const none = await both(t, { headers: { "content-type": "application/json", "x-request-id": REQUEST_ID }, body });
      expect([none.status, connectError(none).code]).toEqual([401, "unauthenticated"]);
      const wrong = await both(t, { headers: authed("application/json", { "x-api-password": "not-it" }), body });
      expect(connectError(wrong).code).toBe("unauthenticated");
      const wrongProto = await both(t, { headers: authed("application/proto", { "x-api-password": "not-it" }), body: protoBody(POOL, ["t005"]) });
      expect(connectError(wrongProto).code).toBe("unauthenticated");
    });

    it("reads a gzip body and answers gzip to accept-encoding: gzip; refuses an unknown encoding", async () => {
      const json = await both(t, {
        headers: authed("application/json", { "content-encoding": "gzip", "accept-encoding": "gzip" }),
        body: gzipSync(jsonBody({ pool: POOL, tokens: TOKENS })),
      });
      expect([json.status, json.headers["content-encoding"]]).toEqual([200, "gzip"]);
      expect(fromJsonString(KeepAliveResponseSchema, json.body.toString("utf8")).results).toHaveLength(100);
      const proto = await both(t, { headers: authed("application/proto", { "content-encoding": "gzip", "accept-encoding": "gzip" }), body: gzipSync(protoBody(POOL, TOKENS)) });
      expect([proto.status, proto.headers["content-encoding"]]).toEqual([200, "gzip"]);
      // Under compressMinBytes (1 KiB): sent as is.
      const small = await both(t, { headers: authed("application/json", { "accept-encoding": "gzip" }), body: jsonBody({ pool: POOL, tokens: ["t006"] }) });
      expect(small.headers["content-encoding"]).toBeUndefined();
      const zstd = await both(t, { headers: authed("application/json", { "content-encoding": "zstd" }), body: jsonBody({ pool: POOL, tokens: ["t006"] }) });
      expect(connectError(zstd).code).toBe("unimplemented");
      const corrupt = await both(t, { headers: authed("application/json", { "content-encoding": "gzip" }), body: Buffer.from("not gzip at all") });
      expect(corrupt.status).toBeGreaterThanOrEqual(400);
    });

    it("still refuses GET (KeepAlive is not idempotent) and streaming content types, exactly as before", async () => {
      const message = encodeURIComponent(JSON.stringify({ pool: POOL, tokens: ["t007"] }));
      const get = await both(t, { method: "GET", path: `${PATH}?connect=v1&encoding=json&message=${message}`, headers: authed("application/json") });
      expect(get.status).toBe(405);
      const stream = await both(t, { headers: authed("application/connect+json"), body: jsonBody({ pool: POOL, tokens: ["t007"] }) });
      expect(stream.status).toBe(415);
      const none = await both(t, { headers: authed("text/plain"), body: jsonBody({ pool: POOL, tokens: ["t007"] }) });
      expect(none.status).toBe(415);
    });
  });
}
