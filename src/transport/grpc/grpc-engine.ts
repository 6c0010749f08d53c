// The grpc-js engine: a grpc-js Server that never listens itself, fed the HTTP/2 connections the
// one-port listener judged gRPC through grpc-js's public connection injector, with the same limits
// as the connect-node path (message size, streams per connection, idle connections, auth before body).

import type net from "node:net";
import type { ServiceImplSpec } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { ConnectionLimits, Limits } from "../../config/limits.js";
import type { TokenServiceApi } from "../../service/token-service.js";
import type { AuthGateOptions } from "../http/auth-rejection.js";
import { interceptStreams } from "../http/stream-intercept.js";
import { grpcAuthGate } from "./auth-gate.js";
import { addConnectServices } from "./bridge.js";
import { clampDeadlines } from "./deadline-clamp.js";
import { injectorHttp2Server } from "./injector-server.js";
import { grpcStreamAuthGate } from "./stream-auth-gate.js";
import type { CallObserver } from "./call.js";
import { addTokenService } from "./token-service.js";

export interface GrpcEngine {
  /** Takes over a connection (its first bytes already unshifted back onto it). */
  readonly injectConnection: (socket: net.Socket) => void;
  /** GOAWAY to every session; what is still open after graceMs is cut. */
  readonly drain: (graceMs: number) => void;
  /** Releases the server once the listener is closed. */
  close(): void;
}

export interface GrpcEngineOptions {
  /** The transport-neutral TokenService, as the Connect handlers serve it. */
  readonly service: TokenServiceApi;
  /** The open services (health, reflection), as connect-es implementations shared with connect-node. */
  readonly open: readonly ServiceImplSpec[];
  readonly observer: CallObserver;
  readonly limits: Limits;
  readonly connections: ConnectionLimits;
  /** The password check, run on each call's metadata before its message is read. */
  readonly auth: AuthGateOptions;
}

export function grpcEngine(options: GrpcEngineOptions): GrpcEngine {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.limits.maxRequestBytes,
    "grpc.max_concurrent_streams": options.connections.maxConnectionStreams,
    "grpc.max_connection_idle_ms": options.connections.idleTimeoutMs,
    interceptors: [grpcAuthGate(options.auth)],
  });
  const calls = { observer: options.observer, writeStallTimeoutMs: options.connections.writeStallTimeoutMs };
  addTokenService(server, options.service, calls);
  addConnectServices(server, options.open, calls);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const h2 = injectorHttp2Server(server);
  if (h2 !== undefined) {
    clampDeadlines(h2);
    // In front of grpc-js (and of the clamp): a call without credentials is answered from its stream's
    // headers, before grpc-js builds a call for it; the interceptor above stays as the second check.
    interceptStreams(h2, grpcStreamAuthGate(options.auth));
  }
  return {
    injectConnection: (socket) => injector.injectConnection(socket),
    drain: (graceMs) => injector.drain(graceMs),
    close: () => {
      injector.destroy();
      server.forceShutdown();
    },
  };
}
