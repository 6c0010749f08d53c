// fast-check generators of hostile requests: random and mutated protobuf for every served RPC over
// gRPC, gRPC-Web and Connect, random and malformed JSON, broken envelopes, content types, timeouts,
// compression, oversized bodies/headers/token lists, Connect GETs, legacy routes with odd query
// strings, and raw malformed HTTP/1.1. Messages are built from the descriptors, so new RPCs are covered.

import { gzipSync } from "node:zlib";
import { create, ScalarType, toBinary, toJson, type DescField, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import { servedMethods, type ServedMethod } from "./services.js";
import type { Transport, WireRequest } from "./wire.js";

/** Server limits the generators aim just past; defaults are the server's defaults. */
export interface FuzzLimits {
  readonly maxRequestBytes: number;
  readonly maxBatchTokens: number;
  readonly maxStringLength: number;
}

export const DEFAULT_LIMITS: FuzzLimits = { maxRequestBytes: 4 * 1024 * 1024, maxBatchTokens: 10_000, maxStringLength: 256 };

export interface FuzzCase {
  /** Which generator made it, for the per-family counts. */
  readonly family: string;
  readonly request: WireRequest;
  /** A short human description (the request is also printed on a violation). */
  readonly note: string;
  /** Overrides how long the sender waits for this response. */
  readonly timeoutMs?: number;
}

/** Pools and tokens the generated requests share, so calls interact instead of all missing. */
export const FUZZ_POOLS = ["fz-a", "fz-b", "fz-c"] as const;
const POOLS = ["default", ...FUZZ_POOLS];
const TOKENS = ["t0", "t1", "t2", "t3", "t4", "t5"];
const OWNERS = ["", "o1", "o2", "legacy"];
const REFLECTION_NAMES = [
  "",
  "tokenpool/v1/token_service.proto",
  "tokenpool.v1.TokenService",
  "tokenpool.v1.TokenService.AssignToken",
  "tokenpool.v1.Pool",
  "google.rpc.ErrorInfo",
  "grpc.health.v1.Health",
  "nope.Nope",
];

type Protocol = "grpc" | "grpc-web" | "connect";
type Codec = "proto" | "json";

// ---------------------------------------------------------------------------------------------
// Strings and numbers that probe limits and encodings.

function weirdString(limits: FuzzLimits): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.string({ unit: "binary", maxLength: 24 }), weight: 6 },
    { arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 24 }), weight: 4 },
    { arbitrary: fc.constantFrom("", " ", "\u0000", "../../etc/passwd", "%00", "\ud800", "\u202e", "a\nb", "😀", "default "), weight: 3 },
    { arbitrary: fc.constantFrom("x".repeat(limits.maxStringLength), "y".repeat(limits.maxStringLength + 1), "z".repeat(5000)), weight: 1 },
  );
}

function vocab(values: readonly string[], limits: FuzzLimits): fc.Arbitrary<string> {
  return fc.oneof({ arbitrary: fc.constantFrom(...values), weight: 8 }, { arbitrary: weirdString(limits), weight: 2 });
}

const U32_EDGES = [0, 1, 2, 3, 5, 8, 1000, 1001, 100_001, 10_000_001, 0x7fffffff, 0xffffffff];
const U64_EDGES = [0n, 1n, 2n, 3n, 10n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

function uint32For(name: string): fc.Arbitrary<number> {
  switch (name) {
    case "count":
    case "initialTokens":
      // Mostly small so pools stay small; the edges sit past any configured limit.
      return fc.oneof({ arbitrary: fc.integer({ min: 0, max: 8 }), weight: 9 }, { arbitrary: fc.constantFrom(100_001, 10_000_001, 0xffffffff), weight: 1 });
    default:
      return fc.oneof({ arbitrary: fc.constantFrom(...U32_EDGES), weight: 3 }, { arbitrary: fc.nat({ max: 0xffffffff }), weight: 1 });
  }
}

/** Durations as init objects, or undefined (unset). Long waits stay rare: they occupy a server call. */
function durationFor(name: string): fc.Arbitrary<{ seconds: bigint; nanos: number } | undefined> {
  const d = (seconds: bigint, nanos = 0) => ({ seconds, nanos });
  const invalid = [d(-1n), d(0n, -1), d(0n, 1_000_000_000), d(2n ** 62n), d(315_576_000_001n), d(-(2n ** 63n))];
  const valid: Record<string, { seconds: bigint; nanos: number }[]> = {
    waitTimeout: [d(0n), d(0n, 50_000_000), d(0n, 200_000_000)],
    leaseTtl: [d(0n, 1_000_000), d(0n, 200_000_000), d(1n), d(30n), d(60n), d(3600n)],
    idleTtl: [d(0n), d(0n, 300_000_000), d(1n), d(300n)],
    heartbeatInterval: [d(0n, 500_000_000), d(1n), d(15n), d(3601n)],
  };
  const choices = valid[name] ?? [d(0n), d(1n)];
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 4 },
    { arbitrary: fc.constantFrom(...choices), weight: 4 },
    { arbitrary: fc.constantFrom(...invalid), weight: 1 },
  );
}

function stringFor(message: DescMessage, field: DescField, limits: FuzzLimits): fc.Arbitrary<string> {
  const name = field.localName;
  if (message.typeName === "tokenpool.v1.DeletePoolRequest") {
    // Deleting `default` would turn every later legacy call into a 503: keep it out of reach.
    return vocab(FUZZ_POOLS, limits);
  }
  if (name === "name" || name === "pool") return vocab(POOLS, limits);
  if (name === "token" || name === "tokens") return vocab(TOKENS, limits);
  if (name === "owner") return vocab(OWNERS, limits);
  if (name === "requestId") return vocab(["", "r1", "r2"], limits);
  if (name === "service") return vocab(["", "tokenpool.v1.TokenService", "nope"], limits);
  if (message.typeName.startsWith("grpc.reflection.")) return vocab(REFLECTION_NAMES, limits);
  return weirdString(limits);
}

type Init = Record<string, unknown>;

function scalarFor(message: DescMessage, field: DescField, scalar: ScalarType, limits: FuzzLimits): fc.Arbitrary<unknown> {
  switch (scalar) {
    case ScalarType.STRING:
      return stringFor(message, field, limits);
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32For(field.localName);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.oneof(fc.constantFrom(0, 1, -1, 0x7fffffff, -0x80000000), fc.integer());
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof({ arbitrary: fc.constantFrom(...U64_EDGES), weight: 3 }, { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), weight: 1 });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.oneof(fc.constantFrom(0, 0.5, 0.8, 0.99, 1, -0.5, Number.NaN, Infinity, -Infinity, 5e-324, -0), fc.double());
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 32 });
  }
}

/** An init object for `desc`: plausible values, edges and junk, every field independently. */
export function messageInit(desc: DescMessage, limits: FuzzLimits, depth = 0): fc.Arbitrary<Init> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const cases = member.fields.map((f) => fieldValue(desc, f, limits, depth).map((value) => ({ case: f.localName, value })));
      parts[member.localName] = fc.oneof(fc.constant({ case: undefined }), ...cases);
      continue;
    }
    parts[member.localName] = fc.option(fieldValue(desc, member, limits, depth), { nil: undefined, freq: 4 });
  }
  return fc.record(parts).map((r) => {
    const out: Init = {};
    for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v;
    return out;
  });
}

function fieldValue(message: DescMessage, field: DescField, limits: FuzzLimits, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return scalarFor(message, field, field.scalar, limits);
    case "enum":
      return enumValue(field.enum.values.map((v) => v.number));
    case "message":
      if (field.message.typeName === "google.protobuf.Duration") return durationFor(field.localName);
      return depth > 3 ? fc.constant({}) : messageInit(field.message, limits, depth + 1);
    case "list": {
      const element =
        field.listKind === "scalar"
          ? scalarFor(message, field, field.scalar, limits)
          : field.listKind === "enum"
            ? enumValue(field.enum.values.map((v) => v.number))
            : depth > 3
              ? fc.constant({})
              : messageInit(field.message, limits, depth + 1);
      return fc.array(element, { maxLength: 6 });
    }
    case "map":
      return fc.constant({});
  }
}

function enumValue(known: readonly number[]): fc.Arbitrary<number> {
  return fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 4 }, { arbitrary: fc.constantFrom(999, -1, 0x7fffffff), weight: 1 });
}

/** Binary encoding of a generated init; protobuf-es writes whatever it is given, edges included. */
function encodeBinary(desc: DescMessage, init: Init): Uint8Array {
  return toBinary(desc, create(desc, init));
}

/** Canonical JSON of a generated init, or a hand-built stand-in when the values have no JSON form (NaN durations…). */
function encodeJsonValue(desc: DescMessage, init: Init): JsonValue {
  try {
    return toJson(desc, create(desc, init));
  } catch {
    return { note: "no canonical JSON for this message" };
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations of protobuf bytes and JSON text.

interface ByteMutation {
  readonly op: "flip" | "insert" | "delete" | "truncate" | "set" | "append-field" | "huge-length" | "duplicate";
  readonly at: number;
  readonly data: Uint8Array;
}

const byteMutation: fc.Arbitrary<ByteMutation> = fc.record({
  op: fc.constantFrom("flip", "insert", "delete", "truncate", "set", "append-field", "huge-length", "duplicate"),
  at: fc.nat({ max: 1 << 16 }),
  data: fc.uint8Array({ minLength: 1, maxLength: 8 }),
});

export function mutateBytes(input: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    const first = m.data[0] as number;
    switch (m.op) {
      case "flip":
        if (b.length > 0) b[at % b.length] = (b[at % b.length] as number) ^ (1 << (first % 8));
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.data, b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (first % 4))]);
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "set":
        if (b.length > 0) b[at % b.length] = [0x00, 0xff, 0x80, 0x7f, 0x0a, 0x12, first][first % 7] as number;
        break;
      case "append-field": {
        // A random tag (field 1..31, any wire type 0..7) followed by random payload bytes.
        const tag = ((1 + (first % 31)) << 3) | ((m.data[1] ?? 0) % 8);
        b = Buffer.concat([b, Buffer.from([tag]), m.data.subarray(1)]);
        break;
      }
      case "huge-length":
        // A length-delimited field claiming ~4 GiB.
        b = Buffer.concat([b.subarray(0, at), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), b.subarray(at)]);
        break;
      case "duplicate":
        b = Buffer.concat([b, b]); // protobuf merges repeated encodings: usually still valid
        break;
    }
  }
  return b;
}

const jsonEdgeValues: JsonValue[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, "", "x", [], {}, [1, 2], { a: 1 }, "18446744073709551616", "-1", "1e3", "NaN", "Infinity", "0x10", " 5 ", "1.5s", "-1s", "1e3s", "999999999999s", "s", "1m", "\ud800"];

/** JSON text of a request: canonical, mutated in structure or values, or not JSON at all. */
function jsonBody(desc: DescMessage, limits: FuzzLimits): fc.Arbitrary<{ text: Buffer; note: string }> {
  const fieldNames = [...desc.fields.flatMap((f) => [f.jsonName, f.name]), "x"];
  const canonical = messageInit(desc, limits).map((init) => encodeJsonValue(desc, init));
  const asText = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) ?? "null", "utf8");
  const withField = fc
    .tuple(canonical, fc.constantFrom(...fieldNames, "bogus", "$typeName", "__proto__", "constructor"), fc.oneof(fc.constantFrom(...jsonEdgeValues), fc.jsonValue({ maxDepth: 3 })))
    .map(([base, key, value]) => {
      const obj: Record<string, JsonValue> = base !== null && typeof base === "object" && !Array.isArray(base) ? { ...base } : {};
      // defineProperty so "__proto__" becomes a real own key in the JSON text.
      Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
      return { text: asText(obj), note: `field ${key} = ${JSON.stringify(value)?.slice(0, 60)}` };
    });
  const hugeNumber = fc.tuple(fc.constantFrom(...fieldNames), fc.constantFrom("1e400", "-1e400", "18446744073709551616", "340282366920938463463374607431768211456", "-0", "1.0", "1e-400", "00012", "0.0000001e7"))
    .map(([key, num]) => ({ text: Buffer.from(`{"${key}":${num}}`), note: `${key} = ${num}` }));
  const deep = fc.tuple(fc.constantFrom(16, 1000, 50_000), fc.constantFrom("[", "{\"a\":"), fc.constantFrom(...fieldNames, "x")).map(([depth, open, key]) => {
    const close = open === "[" ? "]" : "}";
    return { text: Buffer.from(`{"${key}":${open.repeat(depth)}1${close.repeat(depth)}}`), note: `nesting ${depth} under ${key}` };
  });
  const invalidUtf8 = fc.tuple(canonical, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([base, junk]) => {
    const text = asText(base);
    // Raw continuation bytes (never valid UTF-8 on their own) inside the first string, else just inside the object.
    const quote = text.indexOf(0x22, 1);
    const pos = quote > 0 ? quote + 1 : Math.min(1, text.length);
    const bad = Buffer.from(junk.map((x) => 0x80 | (x & 0x3f)));
    return { text: Buffer.concat([text.subarray(0, pos), bad, text.subarray(pos)]), note: `invalid UTF-8 at byte ${pos}` };
  });
  const notJson = fc.oneof(
    fc.constantFrom("", " ", "{", "}", "{]", "[]", "null", "\"str\"", "42", "{\"a\":1,}", "{/*c*/}", "\ufeff{}", "{} {}", "{\"pool\":\"a\",\"pool\":\"b\"}", "{\"pool\":\"\\ud800\"}", "{\"pool\":\"\\u0000\"}")
      .map((t) => ({ text: Buffer.from(t, "utf8"), note: `text ${JSON.stringify(t)}` })),
    fc.string({ unit: "binary", maxLength: 40 }).map((t) => ({ text: Buffer.from(t, "utf8"), note: "random text" })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: asText(v), note: "random JSON value" })),
  );
  return fc.oneof(
    { arbitrary: canonical.map((v) => ({ text: asText(v), note: "canonical" })), weight: 4 },
    { arbitrary: withField, weight: 4 },
    { arbitrary: hugeNumber, weight: 2 },
    { arbitrary: deep, weight: 1 },
    { arbitrary: invalidUtf8, weight: 2 },
    { arbitrary: notJson, weight: 3 },
  );
}

// ---------------------------------------------------------------------------------------------
// Request assembly.

export function envelope(flags: number, payload: Uint8Array, declaredLength = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([head, payload]);
}

function contentType(protocol: Protocol, codec: Codec, stream: boolean): string {
  if (protocol === "grpc") return codec === "proto" ? "application/grpc" : "application/grpc+json";
  if (protocol === "grpc-web") return codec === "proto" ? "application/grpc-web+proto" : "application/grpc-web+json";
  if (stream) return codec === "proto" ? "application/connect+proto" : "application/connect+json";
  return codec === "proto" ? "application/proto" : "application/json";
}

function isStreaming(m: ServedMethod): boolean {
  return m.method.methodKind !== "unary";
}

function deadlineHeader(protocol: Protocol, ms: number): [string, string] {
  return protocol === "connect" ? ["connect-timeout-ms", String(ms)] : ["grpc-timeout", `${ms}m`];
}

type Credentials = "ok" | "bearer" | "missing" | "wrong";

function credentialHeaders(kind: Credentials, password: string): [string, string][] {
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

const credentials: fc.Arbitrary<Credentials> = fc.oneof(
  { arbitrary: fc.constant<Credentials>("ok"), weight: 90 },
  { arbitrary: fc.constant<Credentials>("bearer"), weight: 4 },
  { arbitrary: fc.constant<Credentials>("missing"), weight: 3 },
  { arbitrary: fc.constant<Credentials>("wrong"), weight: 3 },
);

interface Shape {
  readonly m: ServedMethod;
  readonly protocol: Protocol;
  readonly codec: Codec;
  readonly transport: Transport;
  readonly creds: Credentials;
}

const METHODS = servedMethods();

/** Calls that build state come more often than the one that tears it down, so pools live long enough to matter. */
const METHOD_WEIGHTS: Record<string, number> = { CreatePool: 6, GenerateTokens: 5, AssignToken: 5, ReleaseToken: 4, KeepAlive: 3, DeletePool: 1 };
const weightedMethod: fc.Arbitrary<ServedMethod> = fc.oneof(...METHODS.map((m) => ({ arbitrary: fc.constant(m), weight: METHOD_WEIGHTS[m.method.name] ?? 2 })));

function shape(codec?: Codec): fc.Arbitrary<Shape> {
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
function rpcRequest(s: Shape, payload: Uint8Array, password: string, extra: readonly [string, string][] = [], body?: Uint8Array): WireRequest {
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

function payloadFor(s: Shape, limits: FuzzLimits, mode: "valid" | "mutated" | "random"): fc.Arbitrary<{ bytes: Uint8Array; note: string }> {
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

// ---------------------------------------------------------------------------------------------
// Families.

function messagesFamily(ctx: CaseContext, mode: "valid" | "mutated" | "random", codec?: Codec): fc.Arbitrary<FuzzCase> {
  return shape(codec).chain((s) =>
    payloadFor(s, ctx.limits, mode).map(({ bytes, note }) => ({
      // JSON bodies are generated and mutated in one go (see jsonBody): one family.
      family: s.codec === "json" ? "json" : `${mode}-proto`,
      request: rpcRequest(s, bytes, ctx.password),
      note: `${s.protocol}/${s.codec}/${s.transport} ${s.m.path} ${note} creds=${s.creds}`,
    })),
  );
}

function envelopeFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  const kinds = fc.constantFrom("longer", "shorter", "zero-len", "two-messages", "flags", "short-header", "huge-length", "empty-body", "trailing-garbage", "three-messages");
  return fc.tuple(shape("proto"), kinds, fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 255 })).chain(([s, kind, k, flags]) =>
    payloadFor(s, ctx.limits, "valid").map(({ bytes }) => {
      // Connect unary has no envelope: send these to its streaming content type instead.
      const proto: Shape = s.protocol === "connect" && !isStreaming(s.m) ? { ...s, protocol: "grpc", transport: "h2" } : s;
      let body: Buffer;
      switch (kind) {
        case "longer":
          body = envelope(0, bytes, bytes.length + k);
          break;
        case "shorter":
          body = envelope(0, bytes, Math.max(0, bytes.length - k));
          break;
        case "zero-len":
          body = envelope(0, new Uint8Array(0));
          break;
        case "two-messages":
          body = Buffer.concat([envelope(0, bytes), envelope(0, bytes)]);
          break;
        case "three-messages":
          body = Buffer.concat([envelope(0, bytes), envelope(0, new Uint8Array(0)), envelope(0, bytes)]);
          break;
        case "flags":
          body = envelope(flags, bytes);
          break;
        case "short-header":
          body = envelope(0, bytes).subarray(0, 1 + (k % 4));
          break;
        case "huge-length":
          body = envelope(0, bytes, 0xffffffff);
          break;
        case "empty-body":
          body = Buffer.alloc(0);
          break;
        case "trailing-garbage":
          body = Buffer.concat([envelope(0, bytes), Buffer.from([k & 0xff, 1, 2])]);
          break;
      }
      return {
        family: "envelope",
        request: rpcRequest(proto, bytes, ctx.password, [], body),
        note: `${proto.protocol}/${proto.transport} ${s.m.path} envelope ${kind} (k=${k}, flags=${flags})`,
      };
    }),
  );
}

function compressionFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  const kinds = fc.constantFrom("gzip-valid", "gzip-garbage", "gzip-flag-unset", "flag-without-encoding", "unsupported", "bomb", "identity-flagged", "br-garbage");
  return fc.tuple(shape("proto"), kinds).chain(([s, kind]) =>
    payloadFor(s, ctx.limits, "valid").map(({ bytes }) => {
      const stream = isStreaming(s.m);
      const enveloped = s.protocol !== "connect" || stream;
      const encHeader = s.protocol === "connect" ? (stream ? "connect-content-encoding" : "content-encoding") : "grpc-encoding";
      const gz = gzipSync(bytes);
      const bomb = gzipSync(Buffer.alloc(ctx.limits.maxRequestBytes + 1024));
      let encoding: string | undefined;
      let payload: Uint8Array = bytes;
      let flag = 0;
      switch (kind) {
        case "gzip-valid":
          [encoding, payload, flag] = ["gzip", gz, 1];
          break;
        case "gzip-garbage":
          [encoding, payload, flag] = ["gzip", Buffer.concat([gz.subarray(0, 4), Buffer.from("garbage")]), 1];
          break;
        case "gzip-flag-unset":
          [encoding, payload, flag] = ["gzip", bytes, 0];
          break;
        case "flag-without-encoding":
          [encoding, payload, flag] = [undefined, bytes, 1];
          break;
        case "unsupported":
          [encoding, payload, flag] = ["snappy", bytes, 1];
          break;
        case "bomb":
          [encoding, payload, flag] = ["gzip", bomb, 1];
          break;
        case "identity-flagged":
          [encoding, payload, flag] = ["identity", bytes, 1];
          break;
        case "br-garbage":
          [encoding, payload, flag] = ["br", Buffer.from("not brotli at all"), 1];
          break;
      }
      const body = enveloped ? envelope(flag, payload) : payload;
      return {
        family: "compression",
        request: rpcRequest(s, bytes, ctx.password, encoding ? [[encHeader, encoding]] : [], body),
        note: `${s.protocol}/${s.transport} ${s.m.path} compression ${kind}`,
      };
    }),
  );
}

const CONTENT_TYPES = [
  "",
  "text/plain",
  "application/xml",
  "application/octet-stream",
  "application/grpc+xml",
  "application/grpc-web-text",
  "application/grpc-web-text+proto",
  "application/json; charset=latin1",
  "application/json;charset=utf-8",
  "APPLICATION/JSON",
  "application/connect+json",
  "application/connect+proto",
  "application/proto",
  "application/grpc+proto",
  "application/grpc-web",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  "application/json, application/proto",
];

function contentTypeFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  return fc.tuple(shape(), fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.string({ unit: "grapheme-ascii", maxLength: 30 }))).chain(([s, ct]) =>
    payloadFor(s, ctx.limits, "valid").map(({ bytes }) => {
      const base = rpcRequest(s, bytes, ctx.password);
      const headers = base.headers.filter(([n]) => n !== "content-type");
      if (ct !== "") headers.push(["content-type", ct]);
      return { family: "content-type", request: { ...base, headers }, note: `${s.transport} ${s.m.path} content-type ${JSON.stringify(ct)} for ${s.protocol}/${s.codec}` };
    }),
  );
}

const GRPC_TIMEOUTS = ["", "1", "1s", "1x", "-1S", "0m", "0n", "1n", "1u", "100000000S", "99999999H", "99999999M", "1H", "1.5S", " 1S", "1S ", "1M", "10m", "١S"];
const CONNECT_TIMEOUTS = ["", "-1", "0", "1", "abc", "1e3", "0x10", " 100", "100 ", "1.5", "99999999999", "9999999999", "4294967296", "18446744073709551616", "١٢٣"];

function timeoutFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  return fc.tuple(shape(), fc.nat(), fc.boolean()).chain(([s, pick, swapped]) =>
    payloadFor(s, ctx.limits, "valid").map(({ bytes }) => {
      const list = s.protocol === "connect" ? CONNECT_TIMEOUTS : GRPC_TIMEOUTS;
      // Sometimes the other protocol's header: it must be ignored, not misparsed.
      const name = (s.protocol === "connect") !== swapped ? "connect-timeout-ms" : "grpc-timeout";
      const value = list[pick % list.length] as string;
      const extra: [string, string][] = [[name, value]];
      if (swapped) extra.push(deadlineHeader(s.protocol, isStreaming(s.m) ? 300 : 2000));
      // h2 refuses to send header values with non-latin1 characters; those go over h1 only.
      const transport: Transport = /[^\x20-\x7e]/.test(value) ? "h1" : s.transport;
      return {
        family: "timeout",
        request: rpcRequest({ ...s, transport }, bytes, ctx.password, extra),
        note: `${s.protocol}/${transport} ${s.m.path} ${name}: ${JSON.stringify(value)}`,
      };
    }),
  );
}

function oversizeFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  const kinds = fc.constantFrom("body", "declared-envelope", "declared-content-length", "big-header", "many-headers", "token-list", "long-token");
  const byName = new Map(METHODS.map((m) => [m.method.name, m]));
  const keepAlive = byName.get("KeepAlive") as ServedMethod;
  return fc.tuple(shape("proto"), kinds, fc.boolean()).map(([s0, kind, alt]) => {
    const limits = ctx.limits;
    switch (kind) {
      case "body": {
        // One byte over the limit, as one protobuf string field (valid framing, too big).
        const big = Buffer.alloc(limits.maxRequestBytes + 1, 0x61);
        // Isolated: the server answers before reading it all, and Node counts the DATA frames still in
        // flight as invalid frames; about 100 of those and the whole HTTP/2 session is torn down.
        return { family: "oversize", request: { ...rpcRequest(s0, big, ctx.password), isolate: true }, note: `${s0.protocol}/${s0.transport} ${s0.m.path} body of ${big.length} bytes` };
      }
      case "declared-envelope": {
        const s: Shape = s0.protocol === "connect" && !isStreaming(s0.m) ? { ...s0, protocol: "grpc", transport: "h2" } : s0;
        const body = envelope(0, Buffer.from([0x0a, 0x01, 0x61]), limits.maxRequestBytes + 1);
        return { family: "oversize", request: rpcRequest(s, new Uint8Array(0), ctx.password, [], body), note: `${s.protocol}/${s.transport} ${s.m.path} envelope declares ${limits.maxRequestBytes + 1} bytes` };
      }
      case "declared-content-length": {
        // Connect unary over h1 with a Content-Length past the limit but only a few bytes sent:
        // the server must answer from the header alone instead of waiting for the rest.
        const m = METHODS.find((x) => x.method.name === "GetPool") as ServedMethod;
        const head = [
          `POST ${m.path} HTTP/1.1`,
          "host: fuzz.local",
          "content-type: application/proto",
          `x-api-password: ${ctx.password}`,
          `content-length: ${limits.maxRequestBytes + 1}`,
          "",
          "",
        ].join("\r\n");
        return { family: "oversize", request: { transport: "h1", method: "POST", path: m.path, headers: [], body: new Uint8Array(0), raw: Buffer.concat([Buffer.from(head, "latin1"), Buffer.from([0x0a, 0x01, 0x61])]) }, note: "content-length past the limit, body not sent" };
      }
      case "big-header": {
        const base = rpcRequest(s0, Buffer.alloc(0), ctx.password);
        return { family: "oversize", request: { ...base, headers: [...base.headers, ["x-big", "b".repeat(20 * 1024)]], isolate: true }, note: `${s0.transport} ${s0.m.path} one 20 KiB header` };
      }
      case "many-headers": {
        const base = rpcRequest(s0, Buffer.alloc(0), ctx.password);
        const many: [string, string][] = Array.from({ length: 300 }, (_, i) => [`x-h${i}`, "v".repeat(64)]);
        return { family: "oversize", request: { ...base, headers: [...base.headers, ...many], isolate: true }, note: `${s0.transport} ${s0.m.path} 300 headers` };
      }
      case "token-list": {
        const tokens = Array.from({ length: limits.maxBatchTokens + 1 }, (_, i) => `k${i}`);
        const s: Shape = { ...s0, m: keepAlive };
        const bytes = encodeBinary(keepAlive.method.input, { pool: alt ? "fz-a" : "default", tokens });
        return { family: "oversize", request: rpcRequest(s, bytes, ctx.password), note: `${s.protocol}/${s.transport} KeepAlive with ${tokens.length} tokens` };
      }
      case "long-token": {
        const s: Shape = { ...s0, m: keepAlive };
        const bytes = encodeBinary(keepAlive.method.input, { pool: "fz-a", tokens: ["ok", "t".repeat(limits.maxStringLength + 1)] });
        return { family: "oversize", request: rpcRequest(s, bytes, ctx.password), note: `${s.protocol}/${s.transport} KeepAlive with a ${limits.maxStringLength + 1}-char token` };
      }
    }
  });
}

function connectGetFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  const getters = METHODS.filter((m) => m.method.idempotency === 1 /* NO_SIDE_EFFECTS */);
  const others = METHODS.filter((m) => m.method.methodKind === "unary" && m.method.idempotency !== 1);
  return fc
    .tuple(
      fc.constantFrom(...getters, ...others.slice(0, 2)),
      fc.constantFrom("json", "proto", "", "xml"),
      fc.constantFrom("plain", "base64", "bad-base64", "missing", "gzip", "bad-gzip", "junk-params"),
      credentials,
      fc.boolean(),
    )
    .chain(([m, encoding, variant, creds, h2]) =>
      messageInit(m.method.input, ctx.limits).map((init) => {
        const json = JSON.stringify(encodeJsonValue(m.method.input, init));
        const bin = Buffer.from(encodeBinary(m.method.input, init));
        const params = new URLSearchParams();
        if (variant !== "junk-params") params.set("connect", "v1");
        if (encoding !== "") params.set("encoding", encoding);
        const message = encoding === "proto" ? bin : Buffer.from(json);
        if (variant === "plain") params.set("message", message.toString("latin1"));
        if (variant === "base64") {
          params.set("base64", "1");
          params.set("message", message.toString("base64url"));
        }
        if (variant === "bad-base64") {
          params.set("base64", "1");
          params.set("message", "!!not*base64!!");
        }
        if (variant === "gzip" || variant === "bad-gzip") {
          params.set("base64", "1");
          params.set("compression", "gzip");
          params.set("message", variant === "gzip" ? gzipSync(message).toString("base64url") : "H4sIAAAA");
        }
        let query = params.toString();
        if (variant === "junk-params") query += "&message=%ZZ&encoding&=&&base64=2";
        return {
          family: "connect-get",
          request: { transport: h2 ? "h2" : "h1", method: "GET", path: `${m.path}?${query}`, headers: credentialHeaders(creds, ctx.password), body: new Uint8Array(0) } satisfies WireRequest,
          note: `GET ${m.path} encoding=${encoding} ${variant} creds=${creds}`,
        };
      }),
    );
}

/** Percent-encodes every UTF-8 byte (a lone surrogate becomes U+FFFD's bytes instead of throwing). */
function percentEncode(s: string): string {
  return [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");
}

const LEGACY_PATHS = ["/issue_token", "/recycle_token", "/tokens"];
const OTHER_PATHS = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/", "/nope", "//tokens", "/tokens/", "/TOKENS", "/tokens/../tokens", "/%2e%2e/tokens", "/tokenpool.v1.TokenService", "/tokenpool.v1.TokenService/", "/tokenpool.v1.TokenService/Nope", "/tokenpool.v1.TokenService/GetPool/extra", "/TOKENPOOL.V1.TOKENSERVICE/GETPOOL", "/nope.Service/Method", "/grpc.health.v1.Health/Nope"];

/** A query string with odd encodings, repeats and separators. */
const oddQuery: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("", "?", "??", "?&", "?=", "?info", "?info=", "?info=%", "?info=%zz", "?info=%ff%fe", "?info=%c3%28", "?info=%ed%a0%80", "?info=%00", "?info=a+b", "?info=%2B", "?info=1&info=2", "?token=", "?token=t0", "?token=%ff", "?token=nope&info=x", "?info=;x", "?INFO=up", "?info=\u00e9", "?info=😀", `?info=${"i".repeat(8000)}`, "?info=<script>", "?info=\"q\"\\"),
  fc.string({ unit: "grapheme-ascii", maxLength: 40 }).map((s) => `?${s.replace(/[\s#]/g, "")}`),
  fc.array(fc.tuple(fc.constantFrom("info", "token", "x", ""), fc.string({ unit: "binary", maxLength: 12 })), { maxLength: 4 }).map(
    (pairs) => `?${pairs.map(([k, v]) => `${k}=${percentEncode(v)}`).join("&")}`,
  ),
);

function httpRoutesFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  return fc
    .tuple(
      fc.oneof({ arbitrary: fc.constantFrom(...LEGACY_PATHS), weight: 4 }, { arbitrary: fc.constantFrom(...OTHER_PATHS), weight: 1 }),
      oddQuery,
      fc.oneof({ arbitrary: fc.constant("GET"), weight: 8 }, { arbitrary: fc.constantFrom("POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"), weight: 2 }),
      fc.constantFrom<Credentials | "bearer-only" | "duplicate">("ok", "ok", "ok", "ok", "missing", "wrong", "bearer-only", "duplicate"),
      fc.integer({ min: 0, max: 9 }),
    )
    .map(([path, query, method, creds, t]) => {
      const headers: [string, string][] =
        creds === "bearer-only"
          ? [["authorization", `Bearer ${ctx.password}`]]
          : creds === "duplicate"
            ? [["x-api-password", ctx.password], ["x-api-password", ctx.password]]
            : credentialHeaders(creds, ctx.password);
      // Non-ASCII in the request target only goes over the raw h1 socket; h2 sends it as given too.
      const transport: Transport = t < 7 ? "h1" : "h2";
      // HTTP/2 header values must be ASCII: a client percent-encodes what a raw h1 socket sends as bytes.
      const target = transport === "h1" ? Buffer.from(path + query, "utf8").toString("latin1") : (path + query).replace(/[^\x21-\x7e]/gu, percentEncode);
      return {
        family: "http-routes",
        request: { transport, method, path: target, headers, body: new Uint8Array(0) } satisfies WireRequest,
        note: `${transport} ${method} ${path}${query.slice(0, 80)} creds=${creds}`,
      };
    });
}

const RAW_REQUESTS = [
  "GARBAGE\r\n\r\n",
  "GET / HTTP/9.9\r\nhost: x\r\n\r\n",
  "GET /tokens HTTP/1.1\r\nhost x\r\n\r\n",
  "GET /tokens HTTP/1.1\r\nhost: x\r\n folded: header\r\n\r\n",
  "GET /tokens HTTP/1.1\r\nhost: x\r\nx-api-password: a\u0000b\r\n\r\n",
  "POST /tokens HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
  "POST /tokenpool.v1.TokenService/GetPool HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n{}",
  "POST /tokenpool.v1.TokenService/GetPool HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
  "POST /tokenpool.v1.TokenService/GetPool HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
  "POST /tokenpool.v1.TokenService/GetPool HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: -1\r\n\r\n",
  "GET /tokens HTTP/1.1\nhost: x\n\n",
  "GET /tokens\r\n\r\n",
  "GET http://fuzz.local/tokens HTTP/1.1\r\nhost: x\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n",
  "CONNECT fuzz.local:443 HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET /tokens HTTP/1.1\r\nhost: x\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET /tokens#frag HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET /to kens HTTP/1.1\r\nhost: x\r\n\r\n",
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000\u0004\u0008\u0000\u0000\u0000\u0000\u0000garbage-frames",
  "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
  "PRI * HTTP/1.1\r\nhost: x\r\n\r\n",
  `GET /${"a".repeat(70_000)} HTTP/1.1\r\nhost: x\r\n\r\n`,
  // A Host Node's parser accepts but `new URL()` does not (the ones that crashed the server are
  // regression cases, sent in every run).
  "GET /tokens HTTP/1.1\r\nhost: [::1\r\n\r\n",
];

function rawFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    fc.constantFrom(...RAW_REQUESTS).map((text) => ({ text, note: `raw ${JSON.stringify(text.slice(0, 60))}` })),
    fc.tuple(fc.constantFrom(...RAW_REQUESTS.slice(0, 18)), fc.array(byteMutation, { minLength: 1, maxLength: 3 })).map(([text, muts]) => ({
      text: Buffer.from(mutateBytes(Buffer.from(text, "latin1"), muts)).toString("latin1"),
      note: `raw mutated ${JSON.stringify(text.slice(0, 40))} (${muts.map((m) => m.op).join(",")})`,
    })),
  ).map(({ text, note }) => ({
    family: "raw-h1",
    request: {
      transport: "h1",
      method: "RAW",
      path: "",
      headers: [],
      body: new Uint8Array(0),
      raw: Buffer.from(text.replaceAll("x-api-password: a", `x-api-password: ${ctx.password}`), "latin1"),
    } satisfies WireRequest,
    note,
    // An incomplete request may rightly leave the server waiting: no need to wait long to see that.
    timeoutMs: 1500,
  }));
}

function truncatedFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  // The client hangs up mid-body: the server must cope quietly (no response is possible).
  return fc.tuple(shape("proto"), fc.integer({ min: 0, max: 20 })).chain(([s, cut]) =>
    payloadFor(s, ctx.limits, "valid").map(({ bytes }) => {
      const base = rpcRequest({ ...s, transport: "h1" }, bytes, ctx.password);
      const padded = Buffer.concat([base.body, Buffer.alloc(32)]);
      return {
        family: "truncated",
        request: { ...base, body: padded, truncateBodyAt: Math.min(cut, padded.length - 1) },
        note: `h1 ${s.protocol} ${s.m.path} body cut at ${cut} of ${padded.length}`,
      };
    }),
  );
}

const UNKNOWN_RPC_PATHS = ["/tokenpool.v1.TokenService/Nope", "/tokenpool.v1.TokenService/getPool", "/tokenpool.v1.TokenService/GetPool/", "/tokenpool.v2.TokenService/GetPool", "/nope.Service/Method", "/grpc.health.v1.Health/Nope", "/tokens", "/healthz", "/", "/tokenpool.v1.TokenService"];

function unknownMethodFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  // A real client calling a method this server does not have: each protocol must say UNIMPLEMENTED its own way.
  return fc.tuple(shape("proto"), fc.constantFrom(...UNKNOWN_RPC_PATHS)).map(([s, path]) => {
    const base = rpcRequest(s, new Uint8Array(0), ctx.password);
    return { family: "unknown-method", request: { ...base, path }, note: `${s.protocol}/${s.transport} POST ${path}` };
  });
}

export interface CaseContext {
  readonly password: string;
  readonly limits: FuzzLimits;
}

/** Every family, weighted: most traffic is well-framed RPCs with hostile payloads. */
export function fuzzCases(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    { arbitrary: messagesFamily(ctx, "valid", "proto"), weight: 14 },
    { arbitrary: messagesFamily(ctx, "mutated", "proto"), weight: 14 },
    { arbitrary: messagesFamily(ctx, "random", "proto"), weight: 8 },
    { arbitrary: messagesFamily(ctx, "valid", "json"), weight: 14 },
    { arbitrary: envelopeFamily(ctx), weight: 8 },
    { arbitrary: compressionFamily(ctx), weight: 4 },
    { arbitrary: contentTypeFamily(ctx), weight: 5 },
    { arbitrary: timeoutFamily(ctx), weight: 6 },
    { arbitrary: oversizeFamily(ctx), weight: 2 },
    { arbitrary: connectGetFamily(ctx), weight: 5 },
    { arbitrary: httpRoutesFamily(ctx), weight: 12 },
    { arbitrary: rawFamily(ctx), weight: 3 },
    { arbitrary: truncatedFamily(ctx), weight: 2 },
    { arbitrary: unknownMethodFamily(ctx), weight: 3 },
  );
}

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
