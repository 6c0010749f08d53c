// Case families below the RPC layer: Connect GETs, legacy and other HTTP routes with odd paths and
// query strings, and raw malformed HTTP/1.1.

import { gzipSync } from "node:zlib";
import fc from "fast-check";
import type { Transport, WireRequest } from "../raw-sender.js";
import { type CaseContext, type FuzzCase, TOKENS } from "./common.js";
import { encodeBinary, encodeJsonValue, messageInit } from "./values.js";
import { byteMutation, mutateBytes } from "./mutations.js";
import { type Credentials, METHODS, credentialHeaders, credentials } from "./requests.js";

export function connectGetFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function httpRoutesFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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

export function rawFamily(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
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
