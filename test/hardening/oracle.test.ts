// The fuzz oracle judged against canned exchanges: it must flag each kind of broken answer the
// fuzzer is meant to catch (otherwise a clean fuzz run proves nothing) and pass the well-formed ones.

import net from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { GetPoolResponseSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { envelope } from "../harness/envelope.js";
import { flaskJson, judge } from "./oracle.js";
import { createSender, type WireRequest, type WireResult } from "./raw-sender.js";

const PW = "pw";
const ctx = { password: PW, clientTimeoutMs: 5000, maxHeaderBytes: 16 * 1024 };
const GET_POOL = "/tokenpool.v1.TokenService/GetPool";

const grpcReq = (headers: [string, string][] = [], path = GET_POOL): WireRequest => ({
  transport: "h2",
  method: "POST",
  path,
  headers: [["content-type", "application/grpc"], ["x-api-password", PW], ["grpc-timeout", "2000m"], ...headers],
  body: envelope(0, new Uint8Array(0)),
});
const connectReq = (headers: [string, string][] = []): WireRequest => ({
  transport: "h1",
  method: "POST",
  path: GET_POOL,
  headers: [["content-type", "application/json"], ["x-api-password", PW], ...headers],
  body: Buffer.from("{}"),
});
const response = (status: number, headers: Record<string, string>, body: Buffer | string = "", trailers: Record<string, string> = {}): WireResult => ({
  kind: "response",
  status,
  headers: new Map(Object.entries(headers)),
  body: Buffer.from(body),
  trailers: new Map(Object.entries(trailers)),
});
const errorInfoJson = (reason: string) => [{ type: "google.rpc.ErrorInfo", value: Buffer.from(toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason, domain: "tokenpool.dev" }))).toString("base64") }];
const okBody = envelope(0, toBinary(GetPoolResponseSchema, create(GetPoolResponseSchema, { pool: { name: "default" } })));

describe("fuzz oracle", () => {
  const cases: [string, WireRequest, WireResult, boolean][] = [
    ["gRPC success with a decodable message", grpcReq(), response(200, { "content-type": "application/grpc+proto" }, okBody, { "grpc-status": "0" }), true],
    ["gRPC trailers-only error", grpcReq(), response(200, { "content-type": "application/grpc+proto", "grpc-status": "3", "grpc-message": "bad" }), true],
    ["gRPC answered with HTTP 404", grpcReq(), response(404, { "content-type": "application/json" }, '{"error":"not found"}'), false],
    ["gRPC without grpc-status", grpcReq(), response(200, { "content-type": "application/grpc" }, okBody), false],
    ["gRPC status out of range", grpcReq(), response(200, { "content-type": "application/grpc" }, "", { "grpc-status": "17" }), false],
    ["gRPC success with a truncated message", grpcReq(), response(200, { "content-type": "application/grpc" }, okBody.subarray(0, okBody.length - 1), { "grpc-status": "0" }), false],
    ["INTERNAL from a handler", grpcReq(), response(200, { "content-type": "application/grpc", "grpc-status": "13", "grpc-message": "internal%20error" }), false],
    ["INTERNAL for an unparseable request (library, per the gRPC table)", grpcReq(), response(200, { "content-type": "application/grpc", "grpc-status": "13", "grpc-message": "parse%20binary%3A%20premature%20EOF" }), true],
    ["UNKNOWN", grpcReq(), response(200, { "content-type": "application/grpc", "grpc-status": "2" }), false],
    ["NOT_FOUND without tokenpool ErrorInfo", grpcReq(), response(200, { "content-type": "application/grpc", "grpc-status": "5" }), false],
    ["UNAUTHENTICATED with the right password", grpcReq(), response(200, { "content-type": "application/grpc", "grpc-status": "16" }), false],
    ["success without credentials", { ...grpcReq(), headers: [["content-type", "application/grpc"], ["grpc-timeout", "2000m"]] }, response(200, { "content-type": "application/grpc" }, okBody, { "grpc-status": "0" }), false],
    ["unknown gRPC method answered UNIMPLEMENTED", grpcReq([], "/tokenpool.v1.TokenService/Nope"), response(200, { "content-type": "application/grpc", "grpc-status": "12" }), true],
    ["unknown gRPC method answered NOT_FOUND", grpcReq([], "/tokenpool.v1.TokenService/Nope"), response(200, { "content-type": "application/grpc", "grpc-status": "5" }), false],
    ["DEADLINE_EXCEEDED with a 2 s deadline", grpcReq(), response(200, { "content-type": "application/grpc", "grpc-status": "4" }), true],
    ["DEADLINE_EXCEEDED with a deadline of days", grpcReq([["grpc-timeout", "99999999H"]]), response(200, { "content-type": "application/grpc", "grpc-status": "4" }), false],
    ["no answer although the deadline was 2 s", grpcReq(), { kind: "timeout" }, false],
    ["connection closed without an answer", grpcReq(), { kind: "closed", detail: "reset", partial: false }, false],
    ["Connect error with the matching HTTP status", connectReq(), response(404, { "content-type": "application/json" }, JSON.stringify({ code: "not_found", message: "x", details: errorInfoJson("POOL_NOT_FOUND") })), true],
    ["Connect error with a mismatched HTTP status", connectReq(), response(500, { "content-type": "application/json" }, JSON.stringify({ code: "not_found", details: errorInfoJson("POOL_NOT_FOUND") })), false],
    ["Connect error with an invalid code", connectReq(), response(400, { "content-type": "application/json" }, JSON.stringify({ code: "bogus" })), false],
    ["Connect error that is not JSON", connectReq(), response(400, { "content-type": "application/json" }, "oops"), false],
    ["Connect unary success that does not decode", connectReq(), response(200, { "content-type": "application/json" }, '{"pool":5}'), false],
    // The server compresses error bodies too when the client offered gzip (Connect: content-encoding).
    ["gzip Connect error body", connectReq([["accept-encoding", "gzip"]]), response(404, { "content-type": "application/json", "content-encoding": "gzip" }, gzipSync(JSON.stringify({ code: "not_found", message: "x", details: errorInfoJson("POOL_NOT_FOUND") }))), true],
    ["gzip Connect error body that does not gunzip", connectReq([["accept-encoding", "gzip"]]), response(404, { "content-type": "application/json", "content-encoding": "gzip" }, "not gzip"), false],
    ["gzip plain 404 body", { ...connectReq([["accept-encoding", "gzip"]]), method: "GET", path: "/nope" }, response(404, { "content-type": "application/json", "content-encoding": "gzip" }, gzipSync('{"error":"not found"}')), true],
    // HTTP/1.1 trims the whitespace around a header value: " 1S" is a valid 1 s deadline.
    ["DEADLINE_EXCEEDED with grpc-timeout \" 1S\" over HTTP/1.1", { ...grpcReq(), transport: "h1", headers: [["content-type", "application/grpc-web"], ["x-api-password", PW], ["grpc-timeout", " 1S"]] }, response(200, { "content-type": "application/grpc-web+proto" }, envelope(0x80, Buffer.from("grpc-status: 4\r\n"))), true],
    ["DEADLINE_EXCEEDED with connect-timeout-ms \"100 \" over HTTP/1.1", connectReq([["connect-timeout-ms", "100 "]]), response(504, { "content-type": "application/json" }, JSON.stringify({ code: "deadline_exceeded" })), true],
    // Node's HTTP/2 server drops such a field instead: no deadline, so DEADLINE_EXCEEDED is wrong there.
    ["DEADLINE_EXCEEDED with grpc-timeout \" 1S\" over HTTP/2 (field dropped)", { ...grpcReq(), headers: [["content-type", "application/grpc"], ["x-api-password", PW], ["grpc-timeout", " 1S"]] }, response(200, { "content-type": "application/grpc", "grpc-status": "4" }), false],
    // connect-es compresses the gRPC-Web trailer frame too once it passes compressMinBytes (flags 0x81).
    ["gRPC-Web gzip trailer frame", { ...grpcReq([["grpc-encoding", "gzip"]]), headers: [["content-type", "application/grpc-web+proto"], ["x-api-password", PW], ["grpc-timeout", "2000m"], ["grpc-encoding", "gzip"]] }, response(200, { "content-type": "application/grpc-web+proto", "grpc-encoding": "gzip" }, envelope(0x81, gzipSync("grpc-status: 3\r\ngrpc-message: bad\r\n"))), true],
    ["gRPC-Web gzip trailer frame that does not gunzip", { ...grpcReq(), headers: [["content-type", "application/grpc-web+proto"], ["x-api-password", PW], ["grpc-timeout", "2000m"], ["grpc-encoding", "gzip"]] }, response(200, { "content-type": "application/grpc-web+proto", "grpc-encoding": "gzip" }, envelope(0x81, Buffer.from("grpc-status: 3\r\n"))), false],
    ["wrong content type answered 415", { ...connectReq(), headers: [["content-type", "text/plain"]] }, response(415, {}), true],
    ["wrong content type answered 400", { ...connectReq(), headers: [["content-type", "text/plain"]] }, response(400, {}), false],
  ];
  for (const [name, req, result, wellFormed] of cases) {
    it(`${wellFormed ? "passes" : "flags"}: ${name}`, () => {
      const v = judge(req, result, ctx);
      if (wellFormed) expect(v.problem).toBeUndefined();
      else expect(v.problem).toBeDefined();
    });
  }

  it("checks legacy bodies byte for byte, as Flask wrote them", () => {
    const req: WireRequest = { transport: "h1", method: "GET", path: "/issue_token?info=%C3%BC", headers: [["x-api-password", PW]], body: new Uint8Array(0) };
    const right = flaskJson({ message: "Token issued successfully.", available_tokens: 1, info: "ü" });
    expect(right).toBe('{"available_tokens":1,"info":"\\u00fc","message":"Token issued successfully."}\n');
    expect(judge(req, response(200, { "content-type": "application/json" }, right), ctx).problem).toBeUndefined();
    // Unsorted keys, a missing newline, the info not echoed, or an unexpected status: all flagged.
    expect(judge(req, response(200, { "content-type": "application/json" }, '{"message":"Token issued successfully.","available_tokens":1,"info":"\\u00fc"}\n'), ctx).problem).toBeDefined();
    expect(judge(req, response(200, { "content-type": "application/json" }, right.trimEnd()), ctx).problem).toBeDefined();
    expect(judge(req, response(200, { "content-type": "application/json" }, flaskJson({ message: "Token issued successfully.", available_tokens: 1, info: "u" })), ctx).problem).toBeDefined();
    expect(judge(req, response(500, { "content-type": "application/json" }, right), ctx).problem).toBeDefined();
    const anonymous = { ...req, headers: [] };
    expect(judge(anonymous, response(401, { "content-type": "application/json" }, '{"error":"Unauthorized"}\n'), ctx).problem).toBeUndefined();
    expect(judge(anonymous, response(200, { "content-type": "application/json" }, right), ctx).problem).toBeDefined();
  });
});

describe("fuzz sender (HTTP/1.1 keep-alive)", () => {
  /** A server that answers every request "ok", then does what `after` says with the connection. */
  async function withServer(after: "close-header" | "end", run: (base: string, connections: () => number) => Promise<void>): Promise<void> {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      let buf = "";
      let answered = false;
      socket.on("data", (c: Buffer) => {
        buf += c.toString("latin1");
        if (answered || !buf.includes("\r\n\r\n")) return;
        answered = true;
        if (after === "close-header") {
          // Says close (in a token list) but leaves the connection open, answering nothing more: reuse would hang.
          socket.write("HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 2\r\n\r\nok");
        } else {
          // No Connection: close, but the connection is ended right behind the answer.
          socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    try {
      await run(`http://127.0.0.1:${port}`, () => connections);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
  const get: WireRequest = { transport: "h1", method: "GET", path: "/healthz", headers: [], body: new Uint8Array(0) };

  for (const after of ["close-header", "end"] as const) {
    it(`does not reuse a connection the server ${after === "end" ? "ended behind its answer" : "answered with Connection: close"}`, async () => {
      await withServer(after, async (base, connections) => {
        const sender = createSender(base);
        try {
          for (let i = 0; i < 5; i++) {
            const r = await sender.send(get, 1000);
            expect(r.kind, JSON.stringify(r)).toBe("response");
          }
          expect(connections()).toBe(5);
        } finally {
          sender.close();
        }
      });
    });
  }
});
