// The auth gate at the HTTP/2 stream level, for the grpc-js engine: a call without valid credentials
// is answered from the stream's headers, before grpc-js builds its call objects (metadata, deadline,
// decoder, interceptor chain), with the trailers-only UNAUTHENTICATED grpc-js itself sends for the
// interceptor's rejection (auth-gate.ts, the same check where this one cannot be installed).

import type http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { toConnectError } from "../errors.js";
import { presentedCredential } from "../auth.js";
import type { AuthGateOptions } from "../http/auth-rejection.js";
import { answerStream } from "../http/stream-answer.js";
import type { StreamCheck } from "../http/stream-intercept.js";
import { grpcError } from "./status.js";

/**
 * A header as the interceptor sees it in grpc-js's metadata: the first value, and none where grpc-js
 * drops it for holding characters metadata cannot (its rule: printable ASCII).
 */
const LEGAL_VALUE = /^[ -~]*$/;
const metadataValue = (v: string | string[] | undefined): string | undefined => {
  const value = Array.isArray(v) ? v[0] : v;
  return value !== undefined && LEGAL_VALUE.test(value) ? value : undefined;
};

export function grpcStreamAuthGate(options: AuthGateOptions): StreamCheck {
  const methods = new Map<string, string>();
  for (const service of options.services) {
    for (const m of service.methods) methods.set(`/${service.typeName}/${m.name}`, m.name);
  }
  // What grpc-js's trailers-only answer to the interceptor's sendStatus holds, in its order: status,
  // message, its default response headers, then the status metadata (the request id, then the
  // details). Built once, with the request id's place kept; encoding the details is most of the cost.
  const e = grpcError(toConnectError({ code: "UNAUTHENTICATED" }), "");
  const template: Record<string, string | readonly string[]> = {
    "grpc-status": String(grpc.status.UNAUTHENTICATED),
    "grpc-message": encodeURI(e.details ?? e.message),
    "content-type": "application/grpc+proto",
    ...(e.metadata?.toHttp2Headers() as Record<string, string | string[]> | undefined),
  };
  return (stream, headers) => {
    const path = headers[":path"];
    const method = path === undefined ? undefined : methods.get(path);
    if (path === undefined || method === undefined) return false;
    // grpc-js answers 415 to anything else before it looks at the method.
    const type = headers["content-type"];
    if (typeof type !== "string" || !type.startsWith("application/grpc")) return false;
    const get = (n: string): string | undefined => metadataValue(headers[n]);
    if (options.check.matchesHeaders(get)) return false;
    const started = performance.now();
    const requestId = options.requestId(get(options.requestIdHeader));
    answerStream(stream, { status: 200, headers: { ...template, [options.requestIdHeader]: requestId }, body: undefined, trailers: undefined });
    options.onReject({
      route: path,
      presented: presentedCredential(get),
      peer: stream.session?.socket?.remoteAddress,
      method,
      requestId,
      seconds: (performance.now() - started) / 1000,
      stage: "stream",
    });
    return true;
  };
}
