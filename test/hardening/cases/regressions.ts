// Inputs that once broke the server, sent first in every fuzz run: each names the bug it pinned.

import type { ServedMethod } from "../services.js";
import type { WireRequest } from "../raw-sender.js";
import { envelope } from "../../harness/envelope.js";
import type { CaseContext, FuzzCase } from "./common.js";
import { encodeBinary } from "./values.js";
import { METHODS } from "./requests.js";

/**
 * Inputs that once broke the server, sent first in every run: each names the bug it pinned.
 * (Found by this fuzzer; see the report of issue 9.)
 */
export function regressionCases(ctx: CaseContext): FuzzCase[] {
  const m = (name: string): ServedMethod => METHODS.find((x) => x.method.name === name) as ServedMethod;
  const grpc = (path: string, ct: string, body: Uint8Array, extra: [string, string][] = []): WireRequest => ({
    transport: "h2",
    method: "POST",
    path,
    headers: [["content-type", ct], ["te", "trailers"], ["x-api-password", ctx.password], ...extra],
    body,
  });
  const getPool = m("GetPool").path;
  const watch = m("WatchLeases").path;
  const check = m("Check").path;
  return [
    {
      family: "regression",
      note: "grpc+json number field given a lone surrogate string, quoted in the decode error: grpc-message encoding threw, the call hung, a stack was logged",
      request: grpc(m("GenerateTokens").path, "application/grpc+json", envelope(0, Buffer.from('{"pool":"default","count":"\\ud800"}')), [["grpc-timeout", "2S"]]),
    },
    {
      family: "regression",
      note: "grpc-web+json duration with a lone low surrogate, same hang",
      request: { ...grpc(m("CreatePool").path, "application/grpc-web+json", envelope(0, Buffer.from('{"name":"fz-r","leaseTtl":"\\udc00s"}')), [["grpc-timeout", "2S"]]), transport: "h1" },
    },
    {
      family: "regression",
      note: "grpc+json invalid JSON of astral characters: the parser's error excerpt split a surrogate pair, same hang",
      request: grpc(check, "application/grpc+json", envelope(0, Buffer.from("f48fbfbdf19897bb", "hex")), [["grpc-timeout", "2S"]]),
    },
    {
      family: "regression",
      note: "Connect GET with base64=1 and a message that is not base64: INTERNAL instead of INVALID_ARGUMENT",
      request: { transport: "h1", method: "GET", path: `${getPool}?connect=v1&encoding=json&base64=1&message=%21%21not*base64%21%21`, headers: [["x-api-password", ctx.password]], body: new Uint8Array(0) },
    },
    {
      family: "regression",
      note: "grpc-timeout 99999999H: a timer past 2^31-1 ms fired at once (DEADLINE_EXCEEDED and a TimeoutOverflowWarning)",
      request: grpc(watch, "application/grpc", envelope(0, encodeBinary(m("WatchLeases").method.input, { pool: "default" })), [["grpc-timeout", "99999999H"]]),
      timeoutMs: 1000,
    },
    {
      family: "regression",
      note: "connect-timeout-ms 9999999999: same overflow over Connect",
      request: {
        transport: "h1",
        method: "POST",
        path: getPool,
        headers: [["content-type", "application/json"], ["x-api-password", ctx.password], ["connect-timeout-ms", "9999999999"]],
        body: Buffer.from('{"name":"default"}'),
      },
    },
    {
      family: "regression",
      note: "gRPC call to an unknown method: HTTP 404 JSON instead of grpc-status UNIMPLEMENTED",
      request: grpc("/tokenpool.v1.TokenService/Nope", "application/grpc", envelope(0, new Uint8Array(0))),
    },
    {
      family: "regression",
      note: "WatchLeases with an undecodable request: logged at error level with a stack",
      request: grpc(watch, "application/grpc", envelope(0, Buffer.from([0xff, 0xff, 0xff])), [["grpc-timeout", "2S"]]),
    },
    {
      family: "regression",
      note: "HTTP/1.1 WatchLeases the client abandons: logged at error level (Unknown, ECONNRESET) with a stack",
      request: {
        transport: "h1",
        method: "POST",
        path: watch,
        headers: [["content-type", "application/connect+json"], ["x-api-password", ctx.password]],
        body: envelope(0, Buffer.from('{"pool":"default","heartbeatInterval":"1s"}')),
      },
      timeoutMs: 1500,
    },
    ...[
      ["Host: a b", `POST ${getPool} HTTP/1.1\r\nhost: a b\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`],
      ["HTTP/1.0 without Host", `POST ${getPool} HTTP/1.0\r\ncontent-type: application/json\r\nx-api-password: ${ctx.password}\r\ncontent-length: 18\r\n\r\n{"name":"default"}`],
      ["request target //[", "GET //[ HTTP/1.1\r\nhost: x\r\n\r\n"],
    ].map(([what, text]): FuzzCase => ({
      family: "regression",
      note: `${what}: connect-node (or the fallback) built a URL from it outside any promise and the process crashed`,
      request: { transport: "h1", method: "POST", path: getPool, headers: [], body: new Uint8Array(0), raw: Buffer.from(text as string, "latin1") },
    })),
  ];
}
