// Request assembly: protocol, codec, transport and credentials of one RPC call, its headers and its
// (enveloped unless Connect unary) body, with valid, mutated or random payloads.

import fc from "fast-check";
import { servedMethods, type ServedMethod } from "../services.js";
import type { Transport, WireRequest } from "../raw-sender.js";
import { envelope } from "../../harness/envelope.js";
import type { Codec, FuzzLimits, Protocol } from "./common.js";
import { encodeBinary, messageInit } from "./values.js";
import { byteMutation, jsonBody, mutateBytes } from "./mutations.js";

function contentType(protocol: Protocol, codec: Codec, stream: boolean): string {
  if (protocol === "grpc") return codec === "proto" ? "application/grpc" : "application/grpc+json";
  if (protocol === "grpc-web") return codec === "proto" ? "application/grpc-web+proto" : "application/grpc-web+json";
  if (stream) return codec === "proto" ? "application/connect+proto" : "application/connect+json";
  return codec === "proto" ? "application/proto" : "application/json";
}

export function isStreaming(m: ServedMethod): boolean {
  return m.method.methodKind !== "unary";
}

export function deadlineHeader(protocol: Protocol, ms: number): [string, string] {
  return protocol === "connect" ? ["connect-timeout-ms", String(ms)] : ["grpc-timeout", `${ms}m`];
}

export type Credentials = "ok" | "bearer" | "missing" | "wrong";

export function credentialHeaders(kind: Credentials, password: string): [string, string][] {
  switch (kind) {
    case "ok":
      return [["x-api-password", password]];
    case "bearer":
      return [["authorization", `Bearer ${password}`]];
    case "missing":
      return [];
    case "wrong":
      return [["x-api-password", `${password}x`]];
  }
}

export const credentials: fc.Arbitrary<Credentials> = fc.oneof(
  { arbitrary: fc.constant<Credentials>("ok"), weight: 90 },
  { arbitrary: fc.constant<Credentials>("bearer"), weight: 4 },
  { arbitrary: fc.constant<Credentials>("missing"), weight: 3 },
  { arbitrary: fc.constant<Credentials>("wrong"), weight: 3 },
);

export interface Shape {
  readonly m: ServedMethod;
  readonly protocol: Protocol;
  readonly codec: Codec;
  readonly transport: Transport;
  readonly creds: Credentials;
}

export const METHODS = servedMethods();

/** Calls that build state come more often than the one that tears it down, so pools live long enough to matter. */
const METHOD_WEIGHTS: Record<string, number> = { CreatePool: 6, GenerateTokens: 5, AssignToken: 5, ReleaseToken: 4, KeepAlive: 3, DeletePool: 1 };
const weightedMethod: fc.Arbitrary<ServedMethod> = fc.oneof(...METHODS.map((m) => ({ arbitrary: fc.constant(m), weight: METHOD_WEIGHTS[m.method.name] ?? 2 })));

export function shape(codec?: Codec): fc.Arbitrary<Shape> {
  return fc
    .record({
      m: weightedMethod,
      protocol: fc.constantFrom<Protocol>("grpc", "grpc-web", "connect"),
      codec: codec ? fc.constant(codec) : fc.constantFrom<Codec>("proto", "json"),
      h2: fc.integer({ min: 0, max: 9 }),
      creds: credentials,
    })
    .map(({ m, protocol, codec: c, h2, creds }) => {
      // gRPC is an HTTP/2 protocol (a few h1 attempts keep that path honest); the others go both ways.
      const transport: Transport = protocol === "grpc" ? (h2 > 0 ? "h2" : "h1") : h2 > 4 ? "h2" : "h1";
      return { m, protocol, codec: c, transport, creds };
    });
}

/** Headers and body for one message in the given protocol (enveloped unless Connect unary). */
export function rpcRequest(s: Shape, payload: Uint8Array, password: string, extra: readonly [string, string][] = [], body?: Uint8Array): WireRequest {
  const stream = isStreaming(s.m);
  const enveloped = s.protocol !== "connect" || stream;
  // Streams get a short deadline so they end on their own; unary calls a generous one.
  const deadline = deadlineHeader(s.protocol, stream ? 300 : 2000);
  const hasDeadline = extra.some(([n]) => n === "grpc-timeout" || n === "connect-timeout-ms");
  const headers: [string, string][] = [
    ["content-type", contentType(s.protocol, s.codec, stream)],
    ...(s.protocol === "grpc" ? ([["te", "trailers"]] as [string, string][]) : []),
    ...(hasDeadline ? [] : [deadline]),
    ...credentialHeaders(s.creds, password),
    ...extra,
  ];
  return { transport: s.transport, method: "POST", path: s.m.path, headers: dedupe(headers), body: body ?? (enveloped ? envelope(0, payload) : payload) };
}

/** Later entries replace earlier ones of the same name (extra headers override defaults). */
function dedupe(headers: readonly [string, string][]): [string, string][] {
  const out = new Map<string, [string, string]>();
  for (const h of headers) out.set(h[0].toLowerCase(), h);
  return [...out.values()];
}

export function payloadFor(s: Shape, limits: FuzzLimits, mode: "valid" | "mutated" | "random"): fc.Arbitrary<{ bytes: Uint8Array; note: string }> {
  const desc = s.m.method.input;
  if (s.codec === "json") {
    return jsonBody(desc, limits).map(({ text, note }) => ({ bytes: text, note: `json ${note}` }));
  }
  if (mode === "random") {
    return fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => ({ bytes: b, note: "random bytes" })),
      // Random but tag-shaped: field numbers and wire types from the real range.
      fc.array(fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 6 })), { maxLength: 6 }).map((fields) => ({
        bytes: Buffer.concat(fields.map(([n, wt, data]) => Buffer.concat([Buffer.from([(n << 3) | wt]), wt === 2 ? Buffer.from([data.length]) : Buffer.alloc(0), data]))),
        note: "random tag-shaped bytes",
      })),
    );
  }
  const valid = messageInit(desc, limits).map((init) => encodeBinary(desc, init));
  if (mode === "valid") return valid.map((bytes) => ({ bytes, note: "generated message" }));
  return fc.tuple(valid, fc.array(byteMutation, { minLength: 1, maxLength: 4 })).map(([bytes, muts]) => ({
    bytes: mutateBytes(bytes, muts),
    note: `mutated (${muts.map((m) => m.op).join(",")})`,
  }));
}
