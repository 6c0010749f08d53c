// Judges one fuzz exchange: derives from the request alone (path, method, content type, credentials,
// deadline) what a conforming server must answer — gRPC, gRPC-Web and Connect per their specs, the
// Flask-compatible legacy bodies, plain JSON 404/405 — and checks the response against it.

import { gunzipSync } from "node:zlib";
import { fromBinary, fromJsonString, type DescMethod } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { createRegistry } from "@bufbuild/protobuf";
import { ErrorInfoSchema, type ErrorInfo } from "../../gen/es/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/es/google/rpc/status_pb.js";
import { codeName } from "../../src/ops/call-outcome.js";
import { methodsByPath, type ServedMethod } from "./services.js";
import type { WireRequest, WireResponse, WireResult } from "./raw-sender.js";
import { END_STREAM, splitEnvelopes, TRAILERS, type Envelope } from "../harness/envelope.js";

export interface Verdict {
  /** A short label for the counts, e.g. "grpc:invalid_argument", "legacy:429", "http:415". */
  readonly outcome: string;
  /** Set when the exchange breaks a rule; says which. */
  readonly problem?: string;
}

export interface OracleContext {
  readonly password: string;
  /** How long the sender waited before giving up on a response. */
  readonly clientTimeoutMs: number;
  /** Total request header bytes the server accepts (larger header blocks may be refused at the HTTP layer). */
  readonly maxHeaderBytes: number;
}

/** gRPC status codes by number, in Connect's spelling. */
export const CODE_NAMES: readonly string[] = Array.from({ length: 17 }, (_, code) => codeName(code));

/** The Connect protocol's error code → HTTP status table. */
const CONNECT_HTTP_STATUS: Record<string, number> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401,
};

/**
 * INTERNAL is a server bug, except where the gRPC status-code table assigns it to the library
 * ("error parsing request proto", "could not decompress"): connect-es reports those as INTERNAL
 * on every protocol, and so does grpc-go.
 */
// grpc-js (native gRPC's default engine) words the same library cases its own way: a body that does
// not decompress, and a grpc-timeout it cannot parse (grpc-go answers that INTERNAL too).
const LIBRARY_INTERNAL = [
  /^parse binary: /,
  /^received compressed envelope, but do not know how to decompress$/,
  /^decompression failed/i,
  /^Failed to decompress message$/,
  /^Invalid grpc-timeout value /,
];

/** Codes only application code produces: tokenpool must attach its ErrorInfo to them. */
const APPLICATION_CODES = new Set(["not_found", "already_exists", "failed_precondition", "out_of_range", "unauthenticated"]);

const ERROR_DOMAIN = "tokenpool.dev";
const detailRegistry = createRegistry(ErrorInfoSchema);

const GRPC_CT = /^application\/grpc(?:\+(?:(json)(?:; ?charset=utf-?8)?|proto))?$/i;
const GRPC_WEB_CT = /^application\/grpc-web(-text)?(?:\+(?:(json)(?:; ?charset=utf-?8)?|proto))?$/i;
const CONNECT_UNARY_CT = /^application\/(?:(json)(?:; ?charset=utf-?8)?|proto)$/i;
const CONNECT_STREAM_CT = /^application\/connect\+(?:(json)(?:; ?charset=utf-?8)?|proto)$/i;
const LEGACY = new Set(["/issue_token", "/recycle_token", "/tokens"]);
const PLAIN_ROUTES = new Set(["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/"]);

const METHODS = methodsByPath();

type RpcProtocol = "grpc" | "grpc-web" | "connect-unary" | "connect-stream";

interface RpcExpectation {
  readonly kind: "rpc";
  readonly protocol: RpcProtocol;
  readonly json: boolean;
  readonly m: ServedMethod | undefined; // undefined: unknown method on a gRPC content type
}

type Expectation =
  | RpcExpectation
  | { readonly kind: "status"; readonly status: number; readonly why: string }
  | { readonly kind: "legacy"; readonly route: string }
  | { readonly kind: "plain"; readonly path: string }
  | { readonly kind: "not-found" }
  | { readonly kind: "method-not-allowed" };

/**
 * A request header as the server sees it. HTTP/1.1 parsing strips the optional whitespace around a
 * field value (RFC 9110 §5.5: " 1S" is "1S"); over HTTP/2 a value with leading or trailing
 * whitespace is malformed (RFC 9113 §8.2.1) and Node's HTTP/2 server drops that field.
 */
function header(req: WireRequest, name: string): string | undefined {
  const values: string[] = [];
  for (const [n, v] of req.headers) {
    if (n.toLowerCase() !== name) continue;
    if (req.transport === "h2" && /^[ \t]|[ \t]$/.test(v)) continue;
    values.push(v.replace(/^[ \t]+|[ \t]+$/g, ""));
  }
  return values.length === 0 ? undefined : values.join(", ");
}

/** What the request asks for, by the protocol specs (not by asking the server's code). */
function expectationFor(req: WireRequest): Expectation {
  let path = req.path.split("?", 1)[0] ?? "";
  const ct = header(req, "content-type") ?? "";
  const m = METHODS.get(path);
  if (m) {
    const kind = m.method.methodKind;
    if (kind === "bidi_streaming" && req.transport === "h1") return { kind: "status", status: 505, why: "bidi needs HTTP/2" };
    const getAllowed = kind === "unary" && m.method.idempotency === 1;
    if (req.method !== "POST" && !(req.method === "GET" && getAllowed)) return { kind: "status", status: 405, why: `${req.method} not allowed` };
    if (req.method === "GET") {
      // Connect GET: the codec comes from the required `encoding` query parameter.
      const encoding = new URL(req.path, "http://x").searchParams.get("encoding");
      if ((ct === "" || CONNECT_UNARY_CT.test(ct)) && (encoding === "json" || encoding === "proto")) {
        return { kind: "rpc", protocol: "connect-unary", json: encoding === "json", m };
      }
      return { kind: "status", status: 415, why: `GET with content type ${JSON.stringify(ct)}, encoding ${JSON.stringify(encoding)}` };
    }
    let match: RegExpExecArray | null;
    if ((match = GRPC_CT.exec(ct))) return { kind: "rpc", protocol: "grpc", json: match[1] !== undefined, m };
    if ((match = GRPC_WEB_CT.exec(ct))) {
      if (match[1] !== undefined) return { kind: "status", status: 415, why: "grpc-web-text is not served" };
      return { kind: "rpc", protocol: "grpc-web", json: match[2] !== undefined, m };
    }
    if (kind === "unary" && (match = CONNECT_UNARY_CT.exec(ct))) return { kind: "rpc", protocol: "connect-unary", json: match[1] !== undefined, m };
    if (kind !== "unary" && (match = CONNECT_STREAM_CT.exec(ct))) return { kind: "rpc", protocol: "connect-stream", json: match[1] !== undefined, m };
    return { kind: "status", status: 415, why: `content type ${JSON.stringify(ct)}` };
  }
  // Not an RPC path. A gRPC client must still get a gRPC status (UNIMPLEMENTED), not an HTML/JSON 404.
  if (req.method === "POST") {
    let match: RegExpExecArray | null;
    if ((match = GRPC_CT.exec(ct))) return { kind: "rpc", protocol: "grpc", json: match[1] !== undefined, m: undefined };
    if ((match = GRPC_WEB_CT.exec(ct)) && match[1] === undefined) return { kind: "rpc", protocol: "grpc-web", json: match[2] !== undefined, m: undefined };
  }
  // The plain routes match the resolved path (dot segments removed), as URL parsing does.
  path = new URL(req.path, "http://localhost").pathname;
  if (LEGACY.has(path)) return req.method === "GET" || req.method === "HEAD" ? { kind: "legacy", route: path } : { kind: "method-not-allowed" };
  if (PLAIN_ROUTES.has(path) || path.startsWith("/docs/")) return { kind: "plain", path };
  return { kind: "not-found" };
}

/** The tokenpool credential rule: X-API-PASSWORD when present, else Authorization: Bearer. */
function rpcCredentialsOk(req: WireRequest, password: string): boolean {
  const pw = header(req, "x-api-password");
  if (pw !== undefined && pw !== "") return pw === password;
  const bearer = /^Bearer\s+(.+)$/i.exec(header(req, "authorization") ?? "")?.[1];
  return bearer === password;
}

function legacyCredentialsOk(req: WireRequest, password: string): boolean {
  return header(req, "x-api-password") === password;
}

/** The server-side deadline a request sets, if its header is valid for its protocol. */
function requestDeadlineMs(req: WireRequest, protocol: RpcProtocol): number | undefined {
  if (protocol === "connect-unary" || protocol === "connect-stream") {
    const v = header(req, "connect-timeout-ms");
    return v !== undefined && /^\d{1,10}$/.test(v) ? Number(v) : undefined;
  }
  const v = header(req, "grpc-timeout");
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as "H"];
  return Number(m[1]) * unit;
}

function headerBytes(req: WireRequest): number {
  return req.headers.reduce((n, [k, v]) => n + k.length + v.length + 32, 0);
}

export function judge(req: WireRequest, result: WireResult, ctx: OracleContext): Verdict {
  const verdict = judgeExchange(req, result, ctx);
  // A hang on a reused keep-alive connection may be the previous request's doing: say which it was.
  if (verdict.problem !== undefined && result.kind === "timeout" && result.reusedAfter !== undefined && !verdict.problem.includes("reused")) {
    return { ...verdict, problem: `${verdict.problem} (keep-alive connection reused after ${result.reusedAfter})` };
  }
  return verdict;
}

function judgeExchange(req: WireRequest, result: WireResult, ctx: OracleContext): Verdict {
  if (result.kind === "unsent") return { outcome: "unsent" };
  if (req.raw !== undefined) return judgeRaw(result);
  if (req.truncateBodyAt !== undefined) {
    if (result.kind === "closed") return { outcome: "truncated:closed" };
    if (result.kind === "response") return { outcome: `truncated:${result.status}` };
    return { outcome: "truncated:hang", problem: "server neither answered nor closed after the client hung up mid-body" };
  }
  // A body sent with content-encoding gzip (the client offered it) is judged as what it encodes.
  if (result.kind === "response") {
    const decoded = decodeBody(result);
    if (typeof decoded === "string") return { outcome: `http:${result.status}:bad-encoding`, problem: decoded };
    result = decoded;
  }
  // Node's HTTP/1.1 parser refuses some raw bytes in a request target before any route runs: a bare 400.
  if (req.transport === "h1" && /[^\x21-\x7e]/.test(req.path) && result.kind === "response" && result.status === 400 && !result.headers.has("content-type")) {
    return { outcome: "http:400-parser" };
  }
  const exp = expectationFor(req);
  const bigHeaders = headerBytes(req) > ctx.maxHeaderBytes;
  if (bigHeaders) {
    // Refused by the HTTP layer before any routing: 431 on HTTP/1.1, a reset stream or GOAWAY on HTTP/2.
    if (result.kind === "response" && result.status === 431) return { outcome: "http:431" };
    if (result.kind === "closed" && req.transport === "h2") return { outcome: "h2:refused-headers" };
    // Otherwise Node accepted the block under its own accounting, and the normal rules apply.
  }
  if (result.kind === "closed") {
    // An HTTP/1.1 server that answers a large upload early and closes resets the connection while
    // the body is still arriving, and TCP may then drop the answer before the client reads it.
    if (req.transport === "h1" && req.body.length > 1024 * 1024 && /EPIPE|ECONNRESET/.test(result.detail)) return { outcome: "h1:reset-upload" };
    return { outcome: "closed", problem: `no complete response: ${result.detail}` };
  }
  switch (exp.kind) {
    case "status":
      if (result.kind !== "response") return { outcome: "hang", problem: `expected HTTP ${exp.status} (${exp.why}), got ${result.kind}` };
      return result.status === exp.status
        ? { outcome: `http:${exp.status}` }
        : { outcome: `http:${result.status}`, problem: `expected HTTP ${exp.status} (${exp.why}), got ${result.status}` };
    case "rpc":
      return judgeRpc(req, result, exp, ctx);
    case "legacy":
      return judgeLegacy(req, result, exp.route, ctx);
    case "method-not-allowed":
      return judgeJsonError(result, 405, req.method === "HEAD" ? undefined : { error: "method not allowed" });
    case "not-found":
      return judgeJsonError(result, 404, req.method === "HEAD" ? undefined : { error: "not found" });
    case "plain":
      if (result.kind !== "response") return { outcome: "hang", problem: `${exp.path} did not answer` };
      if (result.status >= 500 && !(exp.path === "/readyz" && result.status === 503)) return { outcome: `http:${result.status}`, problem: `${exp.path} answered ${result.status}` };
      return { outcome: `plain:${result.status}` };
  }
}

/** The response with a gzip content-encoding undone (and the header dropped), or what is wrong with it. */
function decodeBody(r: WireResponse): WireResponse | string {
  const encoding = (r.headers.get("content-encoding") ?? "").trim().toLowerCase();
  if (encoding !== "gzip" && encoding !== "x-gzip") return r;
  const headers = new Map(r.headers);
  headers.delete("content-encoding");
  if (r.body.length === 0) return { ...r, headers }; // HEAD, 204
  try {
    return { ...r, headers, body: gunzipSync(r.body) };
  } catch (e) {
    return `content-encoding gzip body (HTTP ${r.status}) does not gunzip: ${e instanceof Error ? e.message : String(e)}`;
  }
}

function judgeRaw(result: WireResult): Verdict {
  switch (result.kind) {
    case "response":
      return result.status >= 100 && result.status <= 599 ? { outcome: `raw:${result.status}` } : { outcome: "raw:bad-status", problem: `status ${result.status}` };
    case "closed":
      return { outcome: "raw:closed" };
    // An incomplete request may legitimately leave the server waiting for the rest (headers timeout).
    case "timeout":
    case "open":
      return { outcome: "raw:waiting" };
    case "unsent":
      return { outcome: "unsent" };
  }
}

/** A plain JSON error; `body` undefined for HEAD, whose response has none. */
function judgeJsonError(result: WireResult, status: number, body: Record<string, string> | undefined): Verdict {
  if (result.kind !== "response") return { outcome: "hang", problem: `expected HTTP ${status}, got ${result.kind}` };
  if (result.status !== status) return { outcome: `http:${result.status}`, problem: `expected HTTP ${status}, got ${result.status}` };
  if (body === undefined) return { outcome: `http:${status}` };
  const parsed = parseJson(result.body);
  if (JSON.stringify(parsed) !== JSON.stringify(body)) return { outcome: `http:${status}`, problem: `expected body ${JSON.stringify(body)}, got ${result.body.toString("utf8").slice(0, 120)}` };
  return { outcome: `http:${status}` };
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString("utf8"));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// RPC responses.

interface RpcStatus {
  readonly code: string;
  readonly message: string;
  readonly errorInfo: ErrorInfo | undefined;
}

function judgeRpc(req: WireRequest, result: WireResult, exp: RpcExpectation, ctx: OracleContext): Verdict {
  const label = exp.protocol.startsWith("connect") ? "connect" : exp.protocol;
  const streaming = exp.m !== undefined && exp.m.method.methodKind !== "unary";
  const deadline = requestDeadlineMs(req, exp.protocol);
  if (result.kind === "timeout" || result.kind === "open") {
    // The server owes an answer before our patience runs out when the request's own deadline is shorter.
    const owed = deadline !== undefined && deadline < ctx.clientTimeoutMs - 1500;
    const mayBlock = streaming || exp.m?.method.name === "AssignToken";
    if (!owed && mayBlock) return { outcome: `${label}:${result.kind === "open" ? "open-stream" : "waiting"}` };
    const reused = result.kind === "timeout" && result.reusedAfter !== undefined ? `, keep-alive connection reused after ${result.reusedAfter}` : "";
    return { outcome: `${label}:hang`, problem: `no ${result.kind === "open" ? "end of response" : "response"} within ${ctx.clientTimeoutMs} ms (request deadline ${deadline ?? "none"}${reused})` };
  }
  if (result.kind !== "response") return { outcome: `${label}:${result.kind}`, problem: `unexpected ${result.kind}` };

  let status: RpcStatus | string;
  switch (exp.protocol) {
    case "grpc":
      status = grpcStatus(result, exp);
      break;
    case "grpc-web":
      status = grpcWebStatus(result, exp);
      break;
    case "connect-unary":
      status = connectUnaryStatus(result, exp);
      break;
    case "connect-stream":
      status = connectStreamStatus(result, exp);
      break;
  }
  if (typeof status === "string") return { outcome: `${label}:malformed`, problem: status };
  const outcome = `${label}:${status.code}`;
  const problem = codeProblem(req, exp, status, ctx, deadline);
  return problem ? { outcome, problem } : { outcome };
}

/** Whether the code fits the request: auth first, then which codes may come from where. */
function codeProblem(req: WireRequest, exp: RpcExpectation, s: RpcStatus, ctx: OracleContext, deadline: number | undefined): string | undefined {
  const what = `${s.code} "${s.message.slice(0, 120)}"`;
  if (exp.m === undefined) return s.code === "unimplemented" ? undefined : `unknown method answered ${what}, want unimplemented`;
  const ours = s.errorInfo?.domain === ERROR_DOMAIN;
  if (exp.m.authenticated && !rpcCredentialsOk(req, ctx.password)) {
    if (s.code === "ok") return "succeeded without valid credentials";
    if (ours && s.errorInfo?.reason !== "UNAUTHENTICATED") return `handler ran without valid credentials: ${what} (${s.errorInfo?.reason})`;
    // Protocol-level rejections (framing, size, bad timeout) may precede the credential check.
    if (!["unauthenticated", "invalid_argument", "resource_exhausted", "unimplemented", "internal", "deadline_exceeded"].includes(s.code)) {
      return `without valid credentials got ${what}`;
    }
  } else if (s.code === "unauthenticated") {
    return `valid credentials (or an open service) rejected: ${what}`;
  }
  switch (s.code) {
    case "unknown":
    case "data_loss":
    case "aborted":
    case "permission_denied":
      return `code ${what} is never right for a client error`;
    case "internal":
      return LIBRARY_INTERNAL.some((r) => r.test(s.message)) ? undefined : `internal error: ${what}`;
    case "canceled":
      return exp.m.method.methodKind === "unary" ? `unary call cancelled by the server: ${what}` : undefined;
    case "deadline_exceeded":
      // Only a deadline that could have passed while we waited explains it.
      return deadline === undefined || deadline >= ctx.clientTimeoutMs ? `deadline_exceeded with request deadline ${deadline ?? "none"}: ${what}` : undefined;
  }
  if (exp.m.authenticated && APPLICATION_CODES.has(s.code) && !ours) return `${what} without a tokenpool ErrorInfo detail`;
  return undefined;
}

function errorInfoFromStatusBin(b64: string | undefined): ErrorInfo | undefined {
  if (!b64) return undefined;
  try {
    const st = fromBinary(StatusSchema, Buffer.from(b64, "base64"));
    for (const d of st.details) {
      const u = anyUnpack(d, detailRegistry);
      if (u?.$typeName === "google.rpc.ErrorInfo") return u as ErrorInfo;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The body's envelopes, or what is wrong with its framing. */
function framesOf(body: Buffer): Envelope[] | string {
  const { frames, rest } = splitEnvelopes(body);
  if (rest.length === 0) return frames;
  if (rest.length < 5) return `truncated envelope header (${rest.length} bytes)`;
  return `envelope declares ${rest.readUInt32BE(1)} bytes, ${rest.length - 5} present`;
}

/** Response messages must decode as the method's output type (gunzipped when the response says gzip). */
function checkMessages(frames: readonly Envelope[], method: DescMethod, json: boolean, unaryOk: boolean, encoding: string | undefined): string | undefined {
  if (unaryOk && frames.length !== 1) return `unary success with ${frames.length} messages`;
  for (const f of frames) {
    let data = f.data;
    if (f.flags & 0x01) {
      if (encoding !== "gzip") return `compressed response message with encoding ${JSON.stringify(encoding)}`;
      try {
        data = gunzipSync(data);
      } catch {
        return "compressed response message does not gunzip";
      }
    }
    try {
      if (json) fromJsonString(method.output, data.toString("utf8"));
      else fromBinary(method.output, data);
    } catch (e) {
      return `response message does not decode as ${method.output.typeName}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return undefined;
}

function grpcCode(raw: string | undefined): string | undefined {
  if (raw === undefined || !/^\d{1,2}$/.test(raw)) return undefined;
  return CODE_NAMES[Number(raw)];
}

function decodeGrpcMessage(raw: string | undefined): string | undefined {
  try {
    return decodeURIComponent(raw ?? "");
  } catch {
    return undefined;
  }
}

function grpcStatus(r: Extract<WireResult, { kind: "response" }>, exp: RpcExpectation): RpcStatus | string {
  if (r.status !== 200) return `gRPC answered HTTP ${r.status}`;
  const ct = r.headers.get("content-type") ?? "";
  if (!/^application\/grpc/.test(ct)) return `gRPC response content-type ${JSON.stringify(ct)}`;
  // Trailers-only responses carry the status in the headers.
  const source = r.trailers.has("grpc-status") ? r.trailers : r.headers;
  const code = grpcCode(source.get("grpc-status"));
  if (code === undefined) return `grpc-status ${JSON.stringify(source.get("grpc-status"))} missing or invalid`;
  const message = decodeGrpcMessage(source.get("grpc-message"));
  if (message === undefined) return "grpc-message is not percent-encoded";
  const frames = framesOf(r.body);
  if (typeof frames === "string") return frames;
  if (exp.m && code === "ok") {
    const bad = checkMessages(frames, exp.m.method, exp.json, exp.m.method.methodKind === "unary", r.headers.get("grpc-encoding"));
    if (bad) return bad;
  }
  return { code, message, errorInfo: errorInfoFromStatusBin(source.get("grpc-status-details-bin")) };
}

function grpcWebStatus(r: Extract<WireResult, { kind: "response" }>, exp: RpcExpectation): RpcStatus | string {
  if (r.status !== 200) return `gRPC-Web answered HTTP ${r.status}`;
  const frames = framesOf(r.body);
  if (typeof frames === "string") return frames;
  let trailer: Map<string, string>;
  const last = frames[frames.length - 1];
  if (last && last.flags & TRAILERS) {
    // connect-es compresses every envelope past compressMinBytes, the trailer frame included (0x81).
    let data = last.data;
    if (last.flags & 0x01) {
      const encoding = r.headers.get("grpc-encoding");
      if (encoding !== "gzip") return `compressed trailer frame with encoding ${JSON.stringify(encoding)}`;
      try {
        data = gunzipSync(data);
      } catch {
        return "compressed trailer frame does not gunzip";
      }
    }
    trailer = new Map();
    for (const line of data.toString("latin1").split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) trailer.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
  } else if (r.headers.has("grpc-status")) {
    trailer = new Map(r.headers);
  } else {
    return "gRPC-Web response without a trailer frame";
  }
  const code = grpcCode(trailer.get("grpc-status"));
  if (code === undefined) return `grpc-status ${JSON.stringify(trailer.get("grpc-status"))} missing or invalid`;
  const message = decodeGrpcMessage(trailer.get("grpc-message"));
  if (message === undefined) return "grpc-message is not percent-encoded";
  const messages = frames.filter((f) => !(f.flags & TRAILERS));
  if (frames.slice(0, -1).some((f) => f.flags & TRAILERS)) return "trailer frame before the last frame";
  if (exp.m && code === "ok") {
    const bad = checkMessages(messages, exp.m.method, exp.json, exp.m.method.methodKind === "unary", r.headers.get("grpc-encoding"));
    if (bad) return bad;
  }
  return { code, message, errorInfo: errorInfoFromStatusBin(trailer.get("grpc-status-details-bin")) };
}

/** A Connect error object: {code, message?, details?}, with an ErrorInfo among the details if any. */
function connectError(value: unknown): RpcStatus | string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "Connect error is not a JSON object";
  const e = value as Record<string, unknown>;
  if (typeof e.code !== "string" || !CODE_NAMES.includes(e.code) || e.code === "ok") return `Connect error code ${JSON.stringify(e.code)}`;
  if (e.message !== undefined && typeof e.message !== "string") return "Connect error message is not a string";
  let errorInfo: ErrorInfo | undefined;
  if (e.details !== undefined) {
    if (!Array.isArray(e.details)) return "Connect error details is not an array";
    for (const d of e.details as unknown[]) {
      const detail = d as { type?: unknown; value?: unknown };
      if (typeof detail.type !== "string" || typeof detail.value !== "string") return "Connect error detail without type/value strings";
      if (detail.type === "google.rpc.ErrorInfo") {
        try {
          errorInfo = fromBinary(ErrorInfoSchema, Buffer.from(detail.value, "base64"));
        } catch {
          return "ErrorInfo detail does not decode";
        }
      }
    }
  }
  return { code: e.code, message: (e.message as string | undefined) ?? "", errorInfo };
}

function connectUnaryStatus(r: Extract<WireResult, { kind: "response" }>, exp: RpcExpectation): RpcStatus | string {
  const ct = r.headers.get("content-type") ?? "";
  if (r.status === 200) {
    if (!exp.m) return "unknown method succeeded";
    const want = exp.json ? "application/json" : "application/proto";
    if (!ct.startsWith(want)) return `success content-type ${JSON.stringify(ct)}, want ${want}`;
    // Any content-encoding has been undone by decodeBody.
    const bad = checkMessages([{ flags: 0, data: r.body }], exp.m.method, exp.json, true, undefined);
    return bad ?? { code: "ok", message: "", errorInfo: undefined };
  }
  if (!ct.startsWith("application/json")) return `Connect error with content-type ${JSON.stringify(ct)} (HTTP ${r.status})`;
  const status = connectError(parseJson(r.body));
  if (typeof status === "string") return `${status} (HTTP ${r.status}: ${r.body.toString("utf8").slice(0, 100)})`;
  if (CONNECT_HTTP_STATUS[status.code] !== r.status) return `Connect code ${status.code} with HTTP ${r.status}, want ${CONNECT_HTTP_STATUS[status.code]}`;
  return status;
}

function connectStreamStatus(r: Extract<WireResult, { kind: "response" }>, exp: RpcExpectation): RpcStatus | string {
  if (r.status !== 200) return `Connect stream answered HTTP ${r.status}`;
  const frames = framesOf(r.body);
  if (typeof frames === "string") return frames;
  const last = frames[frames.length - 1];
  if (!last || !(last.flags & END_STREAM)) return "Connect stream without an end-stream frame";
  if (frames.slice(0, -1).some((f) => f.flags & END_STREAM)) return "end-stream frame before the last frame";
  let endData = last.data;
  if (last.flags & 0x01) {
    if (r.headers.get("connect-content-encoding") !== "gzip") return `compressed end-stream frame with encoding ${JSON.stringify(r.headers.get("connect-content-encoding"))}`;
    try {
      endData = gunzipSync(endData);
    } catch {
      return "compressed end-stream frame does not gunzip";
    }
  }
  const end = parseJson(endData);
  if (end === null || typeof end !== "object" || Array.isArray(end)) return "end-stream frame is not a JSON object";
  const err = (end as { error?: unknown }).error;
  if (err === undefined) {
    if (exp.m) {
      const bad = checkMessages(frames.slice(0, -1), exp.m.method, exp.json, false, r.headers.get("connect-content-encoding"));
      if (bad) return bad;
    }
    return { code: "ok", message: "", errorInfo: undefined };
  }
  return connectError(err);
}

// ---------------------------------------------------------------------------------------------
// Legacy routes: byte-exact Flask jsonify output.

/** Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True), independently written. */
export function flaskJson(obj: Record<string, string | number>): string {
  const str = (s: string): string => {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const ch = s[i] as string;
      if (ch === '"') out += '\\"';
      else if (ch === "\\") out += "\\\\";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else if (ch === "\b") out += "\\b";
      else if (ch === "\f") out += "\\f";
      else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, "0")}`;
      else out += ch;
    }
    return `${out}"`;
  };
  const keys = Object.keys(obj).sort();
  return `{${keys.map((k) => `${str(k)}:${typeof obj[k] === "number" ? String(obj[k]) : str(obj[k] as string)}`).join(",")}}\n`;
}

const LEGACY_SHAPES: Record<string, Record<number, string | undefined>> = {
  "/issue_token": { 200: "Token issued successfully.", 429: "No tokens available.", 503: "Service unavailable." },
  "/recycle_token": { 200: "Token recycled successfully.", 400: "All tokens are already available.", 503: "Service unavailable." },
  "/tokens": { 200: undefined, 503: "Service unavailable." },
};

function judgeLegacy(req: WireRequest, result: WireResult, route: string, ctx: OracleContext): Verdict {
  if (result.kind !== "response") return { outcome: "legacy:hang", problem: `legacy ${route} gave ${result.kind}` };
  const outcome = `legacy:${result.status}`;
  if (result.headers.get("content-type") !== "application/json") return { outcome, problem: `content-type ${result.headers.get("content-type")}` };
  const head = req.method === "HEAD";
  const check = (expected: string): Verdict => {
    if (head) return { outcome };
    const got = result.body.toString("latin1");
    return got === expected ? { outcome } : { outcome, problem: `body ${JSON.stringify(got.slice(0, 200))}, want ${JSON.stringify(expected.slice(0, 200))}` };
  };
  if (!legacyCredentialsOk(req, ctx.password)) {
    if (result.status !== 401) return { outcome, problem: `wrong or missing X-API-PASSWORD answered ${result.status}` };
    return check(flaskJson({ error: "Unauthorized" }));
  }
  const shapes = LEGACY_SHAPES[route] ?? {};
  if (!(result.status in shapes)) return { outcome, problem: `${route} answered ${result.status}` };
  if (head) return { outcome };
  const body = parseJson(result.body) as Record<string, unknown> | undefined;
  if (!body || typeof body !== "object") return { outcome, problem: "body is not JSON" };
  const info = route === "/tokens" ? undefined : (new URL(req.path, "http://localhost").searchParams.get("info") ?? "No info provided");
  const message = shapes[result.status];
  const expected: Record<string, string | number> = {};
  if (result.status !== 503) {
    if (typeof body.available_tokens !== "number" || !Number.isInteger(body.available_tokens) || body.available_tokens < 0) {
      return { outcome, problem: `available_tokens ${JSON.stringify(body.available_tokens)}` };
    }
    expected.available_tokens = body.available_tokens;
    if (result.status === 429 && body.available_tokens !== 0) return { outcome, problem: "429 with tokens available" };
  }
  if (info !== undefined || result.status === 503) expected.info = info ?? "No info provided";
  if (message !== undefined) expected.message = message;
  return check(flaskJson(expected));
}
