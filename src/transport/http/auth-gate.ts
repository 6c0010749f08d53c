// Checks the API password from the request headers before anything reads the body: a caller without
// credentials is answered UNAUTHENTICATED in its own protocol (Connect unary or streaming, Connect
// GET, gRPC, gRPC-Web), with the same bytes connect-node sends for the auth interceptor's error, and
// its body, however large or deeply nested, is never read or parsed. Other paths pass through.

import http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { codeToHttpStatus, contentTypeStreamRegExp, contentTypeUnaryRegExp, endStreamFlag, endStreamToJson, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { contentTypeRegExp as grpcContentType, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { contentTypeRegExp as grpcWebContentType, trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { presentedCredential, type AuthFailure, type PasswordCheck } from "../auth.js";
import { toConnectError } from "../errors.js";
import type { HttpHandler, HttpRequest, HttpResponse } from "./handler.js";

export interface AuthGateOptions {
  readonly check: PasswordCheck;
  /** Services whose methods need the password. */
  readonly services: readonly DescService[];
  /** The id the response carries (x-request-id), as the request log would give it. */
  readonly requestId: (presented: string | undefined) => string;
  readonly requestIdHeader: string;
  /** Every rejection: for the auth failure log and the call metrics. */
  readonly onReject: (failure: Omit<AuthFailure, "protocol"> & { readonly method: string; readonly requestId: string; readonly seconds: number }) => void;
}

type Wire = "connect-unary" | "connect-stream" | "grpc" | "grpc-web";

interface Route {
  readonly method: string;
  /** Connect GET is served for side-effect-free methods only (as connect-node does). */
  readonly get: boolean;
  /** Connect has distinct content types for unary and streaming methods; the other kind is a 415. */
  readonly streaming: boolean;
}

/** The rejection in each protocol, serialised once: only the request id differs between answers. */
class Answers {
  private readonly error = toConnectError({ code: "UNAUTHENTICATED" });
  private readonly unaryBody = Buffer.from(errorToJsonBytes(this.error, {}));
  private readonly unaryStatus = codeToHttpStatus(this.error.code);
  private readonly grpcTrailers = [...setTrailerStatus(new Headers(), this.error).entries()];

  constructor(private readonly idHeader: string) {}

  send(res: HttpResponse, wire: Wire, json: boolean, requestId: string, closeAfter: boolean): void {
    const close: Record<string, string> = closeAfter ? { connection: "close" } : {};
    switch (wire) {
      case "connect-unary":
        res.writeHead(this.unaryStatus, { "content-type": "application/json", "content-length": String(this.unaryBody.length), [this.idHeader]: requestId, ...close });
        res.end(this.unaryBody);
        return;
      case "connect-stream": {
        const end = Buffer.from(JSON.stringify(endStreamToJson(new Headers({ [this.idHeader]: requestId }), this.error, {})));
        res.writeHead(200, { "content-type": json ? "application/connect+json" : "application/connect+proto", ...close });
        res.end(frame(endStreamFlag, end));
        return;
      }
      case "grpc-web": {
        const trailer = new Headers(this.grpcTrailers);
        trailer.set(this.idHeader, requestId);
        res.writeHead(200, { "content-type": json ? "application/grpc-web+json" : "application/grpc-web+proto", ...close });
        res.end(frame(trailerFlag, trailerSerialize(trailer)));
        return;
      }
      case "grpc": {
        res.writeHead(200, { "content-type": json ? "application/grpc+json" : "application/grpc+proto", ...close });
        res.addTrailers(Object.fromEntries([...this.grpcTrailers, [this.idHeader, requestId]]));
        res.end();
        return;
      }
    }
  }
}

function frame(flag: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = flag;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** Which protocol a request to a protected method speaks; undefined: one connect-node refuses itself (415). */
function wireOf(req: HttpRequest, route: Route, query: string): { wire: Wire; json: boolean } | undefined {
  if (req.method === "GET") {
    // A GET without a message encoding connect-node can read is refused 415 first, as before.
    const encoding = route.get ? new URLSearchParams(query).get("encoding") : null;
    return encoding === "json" || encoding === "proto" ? { wire: "connect-unary", json: true } : undefined;
  }
  if (req.method !== "POST") return undefined;
  const type = req.headers["content-type"] ?? "";
  if (contentTypeUnaryRegExp.test(type)) return route.streaming ? undefined : { wire: "connect-unary", json: true };
  if (contentTypeStreamRegExp.test(type)) return route.streaming ? { wire: "connect-stream", json: /json/i.test(type) } : undefined;
  if (grpcContentType.test(type)) return { wire: "grpc", json: /json/i.test(type) };
  const web = grpcWebContentType.exec(type);
  if (web && web[1] === undefined) return { wire: "grpc-web", json: /json/i.test(type) }; // grpc-web-text is not served
  return undefined;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** A rejected HTTP/1.1 body up to this size is received (unparsed) before the answer. */
const DISCARD_MAX_BYTES = 64 * 1024;
/** ... for at most this long. */
const DISCARD_MAX_MS = 1000;

function answerWhenReceived(req: HttpRequest, send: (closeAfter: boolean) => void): void {
  // Whatever came with the head has been parsed by the next turn.
  setImmediate(() => {
    if (req.complete) return send(false);
    const declared = req.headers["content-length"];
    if (declared !== undefined && !(Number(declared) <= DISCARD_MAX_BYTES)) return send(true);
    // Declared small, or chunked (connect-es sends unary bodies chunked): received until it ends,
    // grows past the limit, or takes too long.
    let sent = false;
    let received = 0;
    const once = (): void => {
      if (sent) return;
      sent = true;
      clearTimeout(timer);
      send(!req.complete);
    };
    const timer = setTimeout(once, DISCARD_MAX_MS);
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > DISCARD_MAX_BYTES) once();
    });
    req.once("end", once);
    req.once("close", once);
  });
}

export function authGate(options: AuthGateOptions, next: HttpHandler): HttpHandler {
  const routes = new Map<string, Route>();
  for (const service of options.services) {
    for (const m of service.methods) {
      routes.set(`/${service.typeName}/${m.name}`, {
        method: m.name,
        get: m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
        streaming: m.methodKind !== "unary",
      });
    }
  }
  const answers = new Answers(options.requestIdHeader);
  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const route = routes.get(path);
    if (route === undefined) return next(req, res);
    const get = (n: string): string | undefined => first(req.headers[n]);
    if (options.check.matchesHeaders(get)) return next(req, res);
    const wire = wireOf(req, route, q < 0 ? "" : url.slice(q + 1));
    if (wire === undefined) return next(req, res);
    const started = performance.now();
    const requestId = options.requestId(get(options.requestIdHeader));
    const h2 = req instanceof http2.Http2ServerRequest;
    if (h2) answers.send(res, wire.wire, wire.json, requestId, false);
    // HTTP/1.1 has no way to refuse the rest of a body but closing the connection, and a client still
    // writing when it closes may lose the answer (EPIPE, or a reset that discards it unread). So a small
    // declared body is let through unparsed and answered when it ends (the connection stays usable); a
    // large, unbounded or stalled one is answered at once and the connection ends after the answer.
    else answerWhenReceived(req, (closeAfter) => answers.send(res, wire.wire, wire.json, requestId, closeAfter));
    if (h2 && !req.complete) {
      // The answer is complete; the rest of the request is not wanted (RFC 9113 §8.1: RST_STREAM
      // NO_ERROR, once the answer is out). What arrives until then is dropped unparsed, but consumed:
      // data a stream closes with unread never gives its flow-control credit back to the connection,
      // whose other streams would then starve.
      req.resume();
      res.once("finish", () => {
        if (!req.stream.closed) req.stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
    }
    options.onReject({
      route: path,
      presented: presentedCredential(get),
      peer: req.socket?.remoteAddress,
      method: route.method,
      requestId,
      seconds: (performance.now() - started) / 1000,
    });
  };
}
