// Case families for well-addressed RPCs: hostile messages, broken envelopes, compression, content
// types, timeouts, oversized requests, truncated uploads and unknown methods.

import { gzipSync } from "node:zlib";
import fc from "fast-check";
import type { ServedMethod } from "../services.js";
import type { Transport } from "../raw-sender.js";
import { envelope } from "../../harness/envelope.js";
import type { CaseContext, Codec, FuzzCase } from "./common.js";
import { encodeBinary } from "./values.js";
import { jsonBody } from "./mutations.js";
import { METHODS, type Shape, deadlineHeader, isStreaming, payloadFor, rpcRequest, shape } from "./requests.js";

export function messagesFamily(ctx: CaseContext, mode: "valid" | "mutated" | "random", codec?: Codec): fc.Arbitrary<FuzzCase> {
  return shape(codec).chain((s) =>
    payloadFor(s, ctx.limits, mode).map(({ bytes, note }) => ({
      // JSON bodies are generated and mutated in one go (see jsonBody): one family.
      family: s.codec === "json" ? "json" : `${mode}-proto`,
      request: rpcRequest(s, bytes, ctx.password),
      note: `${s.protocol}/${s.codec}/${s.transport} ${s.m.path} ${note} creds=${s.creds}`,
    })),
  );
}

export function envelopeFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function compressionFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function contentTypeFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function timeoutFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function oversizeFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function truncatedFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function unknownMethodFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  // A real client calling a method this server does not have: each protocol must say UNIMPLEMENTED its own way.
  return fc.tuple(shape("proto"), fc.constantFrom(...UNKNOWN_RPC_PATHS)).map(([s, path]) => {
    const base = rpcRequest(s, new Uint8Array(0), ctx.password);
    return { family: "unknown-method", request: { ...base, path }, note: `${s.protocol}/${s.transport} POST ${path}` };
  });
}
