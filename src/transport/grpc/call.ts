// What the grpc-js adapters share per call: the protobuf-es codec of a method (undecodable requests
// become a value, answered as connect-node answers them), the call's context (signal, headers, peer)
// built lazily, how a call grpc-js ended itself is counted, and the outcome hook the layers above fill.

import { fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { REQUEST_ID_HEADER } from "../../service/request-id.js";
import { CALL_CANCELLED } from "./status.js";

export type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/** What the layers above want to know of each call (metrics, request log): told once per call. */
export interface CallObserver {
  /** A call starts; returns its request id (the caller's, if acceptable) and what to call at its end. */
  started(method: DescMethod, presentedRequestId: string | undefined): CallOutcome;
}

export interface CallOutcome {
  readonly requestId: string;
  /** The gRPC code the call ended with (0 = OK), and what failed, if anything. */
  ended(code: number, error?: unknown): void;
}

/**
 * A request message that did not decode. It is answered as connect-es answers it, INTERNAL
 * "parse binary: …" (the gRPC status table gives request parsing to the library, as INTERNAL), so
 * both engines say the same and the request log knows it is the client's doing, not a server fault.
 */
export class Undecodable {
  readonly error: ConnectError;
  constructor(cause: unknown) {
    this.error = new ConnectError(`parse binary: ${cause instanceof Error ? cause.message : String(cause)}`, Code.Internal);
  }
}

/** A method's own codec where protobuf-es's reflective one is too slow (KeepAlive's). */
export interface MethodCodec {
  /** Encodes what the handler answers (which need not be the output message). */
  readonly serializeResponse?: (answer: unknown) => Buffer;
  /** Decodes a request; may throw, as fromBinary does, for bytes that are not one. */
  readonly deserializeRequest?: (bytes: Buffer) => unknown;
}

/**
 * The method as grpc-js serves it. Requests and responses go through protobuf-es's fromBinary and
 * toBinary of the method's messages, unless the codec gives its own.
 */
export function methodDefinition(service: DescService, method: DescMethod, codec: MethodCodec = {}): grpc.MethodDefinition<unknown, unknown> {
  const decode = codec.deserializeRequest ?? ((b: Buffer) => fromBinary(method.input, b));
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: (m: unknown) => Buffer.from(toBinary(method.input, m as never)),
    // Never throws: grpc-js would answer a throw with its own INTERNAL "Error deserializing request".
    requestDeserialize: (b: Buffer) => {
      try {
        return decode(b);
      } catch (e) {
        return new Undecodable(e);
      }
    },
    responseSerialize: codec.serializeResponse ?? ((m) => Buffer.from(toBinary(method.output, m as never))),
    responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
    originalName: method.localName,
  };
}

/**
 * One call as the service layer and the connect-es implementations see it. The signal is made on
 * first use (most calls never wait), and cancellation aborts it with a shared reason: no DOMException
 * per call.
 */
export class GrpcCall {
  private ended = false;
  private controller: AbortController | undefined;

  constructor(
    readonly call: AnyCall,
    /** The engine's early gate already checked the password on this call's headers (CallContext). */
    readonly authenticated = false,
  ) {}

  /** grpc-js ended the call (client gone, deadline), or it was cut; read when a result is ready. */
  get cancelled(): boolean {
    return this.ended || this.call.cancelled;
  }

  /** Made on first use (most calls never wait): only then is grpc-js's cancel event listened to. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.cut();
      else (this.call as grpc.ServerUnaryCall<unknown, unknown>).once("cancelled", () => this.cut());
    }
    return this.controller.signal;
  }

  readonly header = (name: string): string | undefined => metadataValue(this.call.metadata, name);

  /** The client's address without the port, as the Connect path logs it. */
  get peer(): string | undefined {
    return peerHost(this.call.getPeer());
  }

  /** The call is over for the handler: grpc-js cancelled it, or it is cut for not reading. */
  cut(): void {
    this.ended = true;
    if (this.controller !== undefined && !this.controller.signal.aborted) this.controller.abort(CALL_CANCELLED);
  }

  /** The code a call grpc-js ended itself was answered with, as its client saw it. */
  cancelCode(): number {
    const deadline = this.call.getDeadline();
    return deadline instanceof Date && deadline.getTime() <= Date.now() ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED;
  }
}

/** A text metadata entry (a request header), its first value; binary entries read as absent. */
export function metadataValue(metadata: grpc.Metadata, name: string): string | undefined {
  const v = metadata.get(name)[0];
  return typeof v === "string" ? v : undefined;
}

/** grpc-js's peer, "1.2.3.4:5678" or "[::1]:5678", as the address alone ("unknown": none). */
export function peerHost(peer: string): string | undefined {
  const m = /^(?:\[(.+)\]|([^:]+)):\d+$/.exec(peer);
  return m ? (m[1] ?? m[2]) : peer === "unknown" || peer === "" ? undefined : peer;
}

export function requestIdMetadata(requestId: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(REQUEST_ID_HEADER, requestId);
  return md;
}

/** Starts the outcome of a call, with the caller's request id if it sent one. */
export function observe(observer: CallObserver, method: DescMethod, call: AnyCall): CallOutcome {
  return observer.started(method, metadataValue(call.metadata, REQUEST_ID_HEADER));
}

/**
 * Writes a server stream's messages with flow-control backpressure: a write the stream cannot take
 * waits for 'drain'. A client that stops reading for longer than stallMs has its call cut (the
 * handler's signal aborts, so the stream's slot and store watch are freed). Returns false when the
 * call ended (cancelled or cut) before the messages did.
 */
export async function writeAll(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  messages: AsyncIterable<unknown>,
  ctx: GrpcCall,
  stallMs: number,
): Promise<boolean> {
  for await (const m of messages) {
    if (ctx.cancelled) return false;
    if (!call.write(m)) await drained(call, ctx, stallMs);
  }
  return !ctx.cancelled;
}

function drained(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, ctx: GrpcCall, stallMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    const timer = stallMs > 0 ? setTimeout(() => (ctx.cut(), done()), stallMs) : undefined;
    call.on("drain", done);
    call.on("cancelled", done);
  });
}
