// Builds the connect-es transport for the chosen protocol (Node's HTTP stacks) with the password
// header, and the HTTP/2 pings that notice a dead connection instead of waiting on it forever.

import type { Interceptor, Transport } from "@connectrpc/connect";
import { setMaxListeners } from "node:events";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

export type Protocol = "connect" | "grpc" | "grpc-web";

export interface TransportOptions {
  readonly baseUrl: string;
  readonly password?: string | undefined;
  readonly protocol: Protocol;
  /** HTTP version for connect / grpc-web (gRPC is always HTTP/2). Default "1.1", as a browser would. */
  readonly httpVersion?: "1.1" | "2" | undefined;
  readonly interceptors?: readonly Interceptor[] | undefined;
}

export function createTransport(o: TransportOptions): Transport {
  const password = o.password;
  const auth: Interceptor = (next) => (req) => {
    if (password) req.header.set("x-api-password", password);
    return next(req);
  };
  const interceptors = [auth, ...(o.interceptors ?? [])];
  // A stalled HTTP/2 connection is found by a ping that goes unanswered; the session manager then
  // opens a new one for the next call (the lease proof never depends on this: it only helps recovery).
  const h2 = { pingIntervalMs: 1000, pingTimeoutMs: 1000, idleConnectionTimeoutMs: 60_000 };
  switch (o.protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl: o.baseUrl, interceptors, ...h2 });
    case "grpc-web":
      return o.httpVersion === "2"
        ? createGrpcWebTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "2", ...h2 })
        : createGrpcWebTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "1.1" });
    case "connect":
      return o.httpVersion === "2"
        ? createConnectTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "2", ...h2 })
        : createConnectTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "1.1" });
  }
}

/** Every call of a client listens on its one close signal: many concurrent calls are normal, not a leak. */
export function allowManyListeners(signal: AbortSignal): void {
  setMaxListeners(0, signal);
}
