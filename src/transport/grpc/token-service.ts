// TokenService on the grpc-js engine: a thin adapter that hands each decoded request to the
// transport-neutral service (src/service), answers its response message as is (KeepAlive's: the
// store's records, written by service/keep-alive-wire.ts), and its error values
// through the one table (transport/errors.ts), with google.rpc.Status details. No rule, check or
// limit lives here: auth, validation and the stream gate are the service's.

import http2 from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { TokenService } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult, Result } from "../../core/types.js";
import { keepAliveRequestFromBinary } from "../../service/keep-alive-request-wire.js";
import { keepAliveResponseBinary } from "../../service/keep-alive-wire.js";
import type { ServiceError } from "../../service/service-error.js";
import type { TokenServiceApi, Unary } from "../../service/token-service.js";
import { toConnectError } from "../errors.js";
import { GrpcCall, methodDefinition, observe, requestIdMetadata, Undecodable, writeAll, type CallObserver, type CallOutcome } from "./call.js";
import { grpcError } from "./status.js";
import { resetStream } from "./stream-reset.js";

/**
 * A watcher cut for falling behind gets this long for what the transport holds to flush, then its
 * SLOW_CONSUMER status; a client still not reading by then has its stream reset (ENHANCE_YOUR_CALM,
 * RESOURCE_EXHAUSTED on its side), as on the Connect path, rather than waiting for the write-stall cut.
 */
const SLOW_CONSUMER_FLUSH_MS = 1000;

export interface TokenServiceOptions {
  readonly observer: CallObserver;
  /** A WatchLeases write not drained for this long means the client stopped reading: cut. 0 = never. */
  readonly writeStallTimeoutMs: number;
  /**
   * Every call reaching these handlers passed the engine's early password check (the stream gate or
   * the interceptor: grpcEngine installs one of them), so the service need not hash the password again.
   */
  readonly authenticated: boolean;
}

type UnaryName = Exclude<keyof TokenServiceApi, "watchLeases" | "keepAliveResults">;

export function addTokenService(server: grpc.Server, service: TokenServiceApi, o: TokenServiceOptions): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of TokenService.methods) {
    if (method.localName === "keepAlive") {
      // Its answer (up to limits.maxBatchTokens results) goes from the store's records straight to the
      // wire: building and reflectively encoding a message per token was most of its CPU. Only the
      // handler below hands grpc-js an answer for this method, so it is always such records. Its
      // request (as many token ids) is read without protobuf-es's reflection when it can be.
      definition[method.name] = methodDefinition(TokenService, method, {
        serializeResponse: (records) => keepAliveResponseBinary(records as readonly KeepAliveResult[]),
        deserializeRequest: keepAliveRequestFromBinary,
      });
      implementation[method.name] = unaryHandler(service.keepAliveResults as Unary<unknown, unknown>, method, o);
      continue;
    }
    definition[method.name] = methodDefinition(TokenService, method);
    implementation[method.name] =
      method.localName === "watchLeases" ? watchHandler(service, method, o) : unaryHandler(service[method.localName as UnaryName] as Unary<unknown, unknown>, method, o);
  }
  server.addService(definition, implementation);
}

function unaryHandler(op: Unary<unknown, unknown>, method: DescMethod, o: TokenServiceOptions): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const outcome = observe(o.observer, method, call);
    if (call.request instanceof Undecodable) {
      outcome.ended(call.request.error.code, call.request.error);
      return callback(grpcError(call.request.error, outcome.requestId));
    }
    const ctx = new GrpcCall(call, o.authenticated);
    op(call.request, ctx).then(
      (r) => {
        // grpc-js answered already (deadline, client gone): the late result is dropped.
        if (ctx.cancelled) return outcome.ended(ctx.cancelCode());
        if (!r.ok) return callback(failure(r, outcome));
        call.sendMetadata(requestIdMetadata(outcome.requestId));
        outcome.ended(0);
        callback(null, r.value);
      },
      (e: unknown) => callback(thrown(e, outcome)),
    );
  };
}

function watchHandler(service: TokenServiceApi, method: DescMethod, o: TokenServiceOptions): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const outcome = observe(o.observer, method, call);
    if (call.request instanceof Undecodable) {
      outcome.ended(call.request.error.code, call.request.error);
      return void call.emit("error", grpcError(call.request.error, outcome.requestId));
    }
    const ctx = new GrpcCall(call, o.authenticated);
    const run = async (): Promise<void> => {
      const opened = await service.watchLeases(call.request as never, ctx);
      if (!opened.ok) return void call.emit("error", failure(opened, outcome));
      const watch = opened.value;
      // Cut while a write is parked on flow control: the grace runs from the cut, then the reset.
      // (Cut with every message already handed to grpc-js, the status goes out behind them; a client
      // that never reads them again keeps that stream until it goes away: see README.)
      let flushTimer: NodeJS.Timeout | undefined;
      let resetForSlowness = false;
      watch.onCut(() => {
        flushTimer = setTimeout(() => (resetForSlowness = resetStream(call)), SLOW_CONSUMER_FLUSH_MS);
      });
      let complete: boolean;
      try {
        call.sendMetadata(requestIdMetadata(outcome.requestId));
        complete = await writeAll(call, watch, ctx, o.writeStallTimeoutMs);
      } finally {
        watch.close();
      }
      if (!complete || ctx.cancelled) {
        if (!resetForSlowness) clearTimeout(flushTimer);
        // What its client saw: RESOURCE_EXHAUSTED for the slow-consumer reset, else the cancel or deadline.
        outcome.ended(resetForSlowness ? grpc.status.RESOURCE_EXHAUSTED : ctx.cancelCode());
        // Reset already, or ended by grpc-js itself (deadline: its status is on its way; client gone).
        if (resetForSlowness || call.cancelled) return;
        // A call cut for not reading is still open at grpc-js: its stream is reset (CANCEL, as the
        // listener's stall guard does on the Connect path), or, failing that, ended when it can be.
        if (!resetStream(call, http2.constants.NGHTTP2_CANCEL)) call.emit("error", { code: grpc.status.CANCELLED, details: "client stopped reading" });
        return;
      }
      clearTimeout(flushTimer);
      if (watch.endError !== undefined) return void call.emit("error", failure({ ok: false, error: watch.endError }, outcome));
      outcome.ended(0);
      call.end();
    };
    run().catch((e: unknown) => call.emit("error", thrown(e, outcome)));
  };
}

function failure(r: Result<never, ServiceError> & { ok: false }, outcome: CallOutcome): grpc.ServerErrorResponse {
  const e = toConnectError(r.error);
  outcome.ended(e.code, e);
  return grpcError(e, outcome.requestId);
}

/** A service that threw (a bug: errors are values) answers INTERNAL, and the request log says so. */
function thrown(e: unknown, outcome: CallOutcome): grpc.ServerErrorResponse {
  const error = grpcError(e, outcome.requestId);
  outcome.ended(error.code ?? grpc.status.INTERNAL, e);
  return error;
}
