// Serves connect-es service implementations (health, reflection: the open services routes.ts lists
// for both engines) on a grpc-js Server, so each exists once: codecs, request ids, the outcome hook,
// cancellation as the handler's signal, and streams written with flow-control backpressure.

import { create, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { createContextValues, type HandlerContext, type MethodImplSpec, type ServiceImplSpec } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { peerAddress } from "../auth.js";
import { GrpcCall, methodDefinition, observe, requestIdMetadata, Undecodable, writeAll, type CallObserver } from "./call.js";
import { grpcError } from "./status.js";

export interface BridgeOptions {
  readonly observer: CallObserver;
  /** A server-stream write not drained for this long means the client stopped reading: cut. 0 = never. */
  readonly writeStallTimeoutMs: number;
}

/** Registers every method of each spec on the grpc-js server. */
export function addConnectServices(server: grpc.Server, specs: readonly ServiceImplSpec[], options: BridgeOptions): void {
  for (const spec of specs) {
    const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const method of spec.service.methods) {
      const impl = spec.methods[method.localName];
      if (impl === undefined) continue;
      definition[method.name] = methodDefinition(spec.service, method);
      implementation[method.name] = handlerOf(spec.service, impl, options);
    }
    server.addService(definition, implementation);
  }
}

function handlerOf(service: DescService, spec: MethodImplSpec, o: BridgeOptions): grpc.UntypedHandleCall {
  const output = spec.method.output as DescMessage;
  switch (spec.kind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const outcome = observe(o.observer, spec.method, call);
        if (call.request instanceof Undecodable) {
          outcome.ended(call.request.error.code, call.request.error);
          return callback(grpcError(call.request.error, outcome.requestId));
        }
        const ctx = new GrpcCall(call);
        const run = async (): Promise<void> => {
          try {
            const res = await spec.impl(call.request as never, contextOf(service, spec, ctx));
            if (ctx.cancelled) return outcome.ended(ctx.cancelCode());
            call.sendMetadata(requestIdMetadata(outcome.requestId));
            outcome.ended(0);
            callback(null, create(output, res as never));
          } catch (e) {
            if (ctx.cancelled) return outcome.ended(ctx.cancelCode(), e);
            const error = grpcError(e, outcome.requestId);
            outcome.ended(error.code ?? grpc.status.UNKNOWN, e);
            callback(error);
          }
        };
        void run();
      };
    case "server_streaming":
    case "bidi_streaming":
      return (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) => {
        const outcome = observe(o.observer, spec.method, call);
        const request = "request" in call ? call.request : undefined;
        if (request instanceof Undecodable) {
          outcome.ended(request.error.code, request.error);
          return void call.emit("error", grpcError(request.error, outcome.requestId));
        }
        const ctx = new GrpcCall(call);
        const context = contextOf(service, spec, ctx);
        const run = async (): Promise<void> => {
          try {
            const responses =
              spec.kind === "server_streaming"
                ? spec.impl(request as never, context)
                : spec.impl(requestsOf(call as grpc.ServerDuplexStream<unknown, unknown>) as never, context);
            call.sendMetadata(requestIdMetadata(outcome.requestId));
            const messages = (async function* () {
              for await (const res of responses) yield create(output, res as never);
            })();
            if (!(await writeAll(call, messages, ctx, o.writeStallTimeoutMs))) return outcome.ended(ctx.cancelCode());
            outcome.ended(0);
            call.end();
          } catch (e) {
            if (ctx.cancelled) return outcome.ended(ctx.cancelCode(), e);
            const error = grpcError(e, outcome.requestId);
            outcome.ended(error.code ?? grpc.status.UNKNOWN, e);
            call.emit("error", error);
          }
        };
        void run();
      };
    case "client_streaming":
      return (_call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        callback({ code: grpc.status.UNIMPLEMENTED, details: `/${service.typeName}/${spec.method.name} is not served over gRPC` });
  }
}

/**
 * The client's messages of a bidi call, ending when it half-closes. Not `for await (… of call)`: that
 * destroys the stream once reading ends, and with it the writing half the answers still need.
 */
async function* requestsOf(call: grpc.ServerDuplexStream<unknown, unknown>): AsyncGenerator<unknown> {
  for await (const m of call.iterator({ destroyOnReturn: false })) {
    if (m instanceof Undecodable) throw m.error;
    yield m;
  }
}

/** The connect-es handler context over a grpc-js call; the implementations use its signal. */
function contextOf(service: DescService, spec: MethodImplSpec, ctx: GrpcCall): HandlerContext {
  let headers: Headers | undefined;
  return {
    service,
    method: spec.method,
    requestMethod: "POST",
    protocolName: "grpc",
    url: `/${service.typeName}/${spec.method.name}`,
    values: createContextValues().set(peerAddress, ctx.peer),
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    get signal() {
      return ctx.signal;
    },
    get requestHeader() {
      if (headers === undefined) {
        headers = new Headers();
        for (const [k, v] of Object.entries(ctx.call.metadata.getMap())) if (typeof v === "string") headers.set(k, v);
      }
      return headers;
    },
    timeoutMs() {
      const deadline = ctx.call.getDeadline();
      return deadline instanceof Date ? deadline.getTime() - Date.now() : undefined;
    },
  };
}
