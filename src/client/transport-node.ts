// Node's platform for the client: connect-node transports for the chosen protocol (gRPC included),
// with the HTTP/2 pings that notice a dead connection instead of waiting on it forever (through a
// session manager whose pings cannot throw, h2-session-guard.ts).

import type { Transport } from "@connectrpc/connect";
import { setMaxListeners } from "node:events";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GuardedSessionManager } from "./h2-session-guard.js";
import { withPassword, type Platform, type TransportOptions } from "./platform.js";

function createTransport(o: TransportOptions): Transport {
  const interceptors = withPassword(o);
  // A stalled HTTP/2 connection is found by a ping that goes unanswered; the session manager then
  // opens a new one for the next call (the lease proof never depends on this: it only helps recovery).
  const h2 = (): { sessionManager: GuardedSessionManager } => ({
    sessionManager: new GuardedSessionManager(o.baseUrl, { pingIntervalMs: 1000, pingTimeoutMs: 1000, idleConnectionTimeoutMs: 60_000 }),
  });
  switch (o.protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl: o.baseUrl, interceptors, ...h2() });
    case "grpc-web":
      return o.httpVersion === "2"
        ? createGrpcWebTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "2", ...h2() })
        : createGrpcWebTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "1.1" });
    case "connect":
      return o.httpVersion === "2"
        ? createConnectTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "2", ...h2() })
        : createConnectTransport({ baseUrl: o.baseUrl, interceptors, httpVersion: "1.1" });
  }
}

export const nodePlatform: Platform = {
  createTransport,
  // Node warns past 10 listeners on one EventTarget; a client's close signal has one per call in flight.
  allowManyListeners: (signal) => setMaxListeners(0, signal),
};
