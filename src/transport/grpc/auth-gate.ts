// The password check on the grpc-js engine, as a server interceptor: it runs on the request's
// metadata, before grpc-js reads a byte of the message, so a caller without credentials costs no
// body reading or decoding here either (the HTTP entry's auth-gate.ts does the same for connect-node).
// Installed only where grpc-js's HTTP/2 server cannot be reached (its internals moved): otherwise the
// same check runs earlier, from the HTTP/2 stream (stream-auth-gate.ts), and once is enough.

import * as grpc from "@grpc/grpc-js";
import type { HeaderGetter } from "../../service/auth.js";
import { presentedCredential } from "../auth.js";
import { toConnectError } from "../errors.js";
import type { AuthGateOptions } from "../http/auth-rejection.js";
import { metadataValue, peerHost } from "./call.js";
import { grpcError } from "./status.js";

/** Methods of `services` answer UNAUTHENTICATED unless their metadata carries the password. */
export function grpcAuthGate(options: AuthGateOptions): grpc.ServerInterceptor {
  const methods = new Map<string, string>();
  for (const service of options.services) {
    for (const m of service.methods) methods.set(`/${service.typeName}/${m.name}`, m.name);
  }
  const rejection = toConnectError({ code: "UNAUTHENTICATED" });
  return (descriptor, call) => {
    const method = methods.get(descriptor.path);
    if (method === undefined) return new grpc.ServerInterceptingCall(call);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const get: HeaderGetter = (name: string) => metadataValue(metadata, name);
            if (options.check.matchesHeaders(get)) return pass(metadata);
            // Not passed on: the handler never starts, and nothing asks grpc-js to read the message.
            const started = performance.now();
            const requestId = options.requestId(get(options.requestIdHeader) ?? undefined);
            const e = grpcError(rejection, requestId);
            call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: e.details ?? e.message, metadata: e.metadata });
            options.onReject({
              route: descriptor.path,
              presented: presentedCredential(get),
              peer: peerHost(call.getPeer()),
              method,
              requestId,
              seconds: (performance.now() - started) / 1000,
              stage: "request",
            });
          },
        }),
    });
  };
}
