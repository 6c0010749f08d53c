// The grpc-js engine: a grpc-js Server that never listens itself, fed the HTTP/2 connections the
// one-port listener judged gRPC through grpc-js's public connection injector, with the same limits
// as the connect-node path (message size, streams per connection, idle connections, auth before body).

import type http2 from "node:http2";
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
  /** The early password check, run on each call's headers before its message is read. */
  readonly auth: AuthGateOptions;
}

export function grpcEngine(options: GrpcEngineOptions): GrpcEngine {
  // The early password check (the service makes the decision itself, later) runs once per call: from
  // the HTTP/2 stream's headers, before grpc-js builds a call, where grpc-js's HTTP/2 server can be
  // reached; as a server interceptor on the metadata, before the message is read, where it cannot.
  const engine = start(options, []);
  if (engine.h2 !== undefined) {
    clampDeadlines(engine.h2);
    interceptStreams(engine.h2, grpcStreamAuthGate(options.auth));
    return engine;
  }
  engine.close();
  return start(options, [grpcAuthGate(options.auth)]);
}

function start(options: GrpcEngineOptions, interceptors: grpc.ServerInterceptor[]): GrpcEngine & { readonly h2: http2.Http2Server | undefined } {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.limits.maxRequestBytes,
    "grpc.max_concurrent_streams": options.connections.maxConnectionStreams,
    "grpc.max_connection_idle_ms": options.connections.idleTimeoutMs,
    interceptors,
  });
  const calls = { observer: options.observer, writeStallTimeoutMs: options.connections.writeStallTimeoutMs };
  // Every call gets here past one of the early checks grpcEngine installs (interceptor or stream gate).
  addTokenService(server, options.service, { ...calls, authenticated: true });
  addConnectServices(server, options.open, calls);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return {
    h2: injectorHttp2Server(server),
    injectConnection: (socket) => injector.injectConnection(socket),
    drain: (graceMs) => injector.drain(graceMs),
    close: () => {
      injector.destroy();
      server.forceShutdown();
    },
  };
}
