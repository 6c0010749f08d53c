// What the client needs from where it runs, given by its entry point: Node's HTTP stacks
// (transport-node.ts) or the browser's fetch (transport-browser.ts); the rest of the client is the same.

import type { Interceptor, Transport } from "@connectrpc/connect";

export type Protocol = "connect" | "grpc" | "grpc-web";

export interface TransportOptions {
  readonly baseUrl: string;
  readonly password?: string | undefined;
  readonly protocol: Protocol;
  /** HTTP version for connect / grpc-web in Node (gRPC is always HTTP/2; a browser's fetch chooses for itself). */
  readonly httpVersion?: "1.1" | "2" | undefined;
  readonly interceptors?: readonly Interceptor[] | undefined;
}

export interface Platform {
  createTransport(o: TransportOptions): Transport;
  /** Every call of a client listens on its one close signal: many concurrent calls are normal, not a leak. */
  allowManyListeners(signal: AbortSignal): void;
}

/** The password on every call, then the caller's own interceptors. */
export function withPassword(o: TransportOptions): Interceptor[] {
  const password = o.password;
  const auth: Interceptor = (next) => (req) => {
    if (password) req.header.set("x-api-password", password);
    return next(req);
  };
  return [auth, ...(o.interceptors ?? [])];
}
