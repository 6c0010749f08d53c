// KeepAlive's Connect unary POSTs (application/json, application/proto) answered by a handler that
// writes the store's records with keep-alive-json.ts / keep-alive-wire.ts, not protobuf-es's reflective
// toJson/toBinary of 100 nested messages; every other request for the method goes to connect-node.
//
// Why a handler of our own: connect-es serializes every method with its output schema and offers no
// per-method serializer (docs/BENCHMARKS.md). So, after router.service(), the router's KeepAlive entry is
// replaced by one with the same properties that sends Connect unary POSTs to unary-handler.ts (connect-es's
// unary handler with this serialization) and the rest (GET, gRPC, gRPC-Web, streaming content types,
// anything malformed) to connect-node's own negotiating handler, which answers them exactly as before.

import { Code, ConnectError, createMethodImplSpec, type ConnectRouter, type MethodImpl } from "@connectrpc/connect";
import {
  createMethodSerializationLookup,
  limitSerialization,
  validateUniversalHandlerOptions,
  type MethodSerializationLookup,
  type Serialization,
  type UniversalHandler,
  type UniversalHandlerOptions,
} from "@connectrpc/connect/protocol";
import { contentTypeUnaryRegExp, headerContentType } from "@connectrpc/connect/protocol-connect";
import { TokenService, type KeepAliveRequestSchema, type KeepAliveResponse, type KeepAliveResponseSchema } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult } from "../../core/types.js";
import { keepAliveResponseJson } from "../../service/keep-alive-json.js";
import { keepAliveResponseBinary } from "../../service/keep-alive-wire.js";
import { keepAliveRecords } from "./keep-alive-answer.js";
import { connectUnaryPostHandler, type UnarySpec } from "./unary-handler.js";

const METHOD = TokenService.method.keepAlive;

/**
 * JSON write options under which protobuf-es's text differs from keep-alive-json.ts's (which writes
 * the defaults): with any of them set, the method stays entirely connect-node's.
 */
const JSON_OUTPUT_OPTIONS = ["alwaysEmitImplicit", "enumAsInteger", "useProtoFieldName", "prettySpaces"] as const;

/**
 * Puts KeepAlive's Connect unary POSTs on the encoders. `impl`: the implementation registered with
 * router.service (its answers carry their records, keep-alive-answer.ts); `options`: the very options the
 * router was created with (connectNodeAdapter's), so limits, gate, interceptors and compressions match.
 */
export function serveKeepAliveEncoders(router: ConnectRouter, impl: MethodImpl<typeof METHOD>, options: Partial<UniversalHandlerOptions>): void {
  const opt = validateUniversalHandlerOptions(options);
  const json = (opt.jsonOptions ?? {}) as Readonly<Record<string, unknown>>;
  if (JSON_OUTPUT_OPTIONS.some((name) => json[name] !== undefined && json[name] !== false && json[name] !== 0)) return;
  const at = router.handlers.findIndex((h) => h.method === METHOD);
  const original = router.handlers[at];
  if (original === undefined) throw new Error("serveKeepAliveEncoders: register TokenService on the router first");
  const spec = createMethodImplSpec(METHOD, impl) as UnarySpec<typeof KeepAliveRequestSchema, typeof KeepAliveResponseSchema>;
  const ours = connectUnaryPostHandler(opt, spec, encoderSerialization(opt));
  const handler: UniversalHandler = Object.assign(
    // The requests connect-es's negotiation would hand its Connect unary handler: a POST whose content
    // type is a unary Connect one (charset parameter as connect-es allows it). No gRPC or gRPC-Web
    // content type matches that pattern, so they keep reaching connect-node's handlers.
    (req: Parameters<UniversalHandler>[0]) => (req.method === "POST" && contentTypeUnaryRegExp.test(req.header.get(headerContentType) ?? "") ? ours(req) : original(req)),
    {
      method: original.method,
      service: original.service,
      requestPath: original.requestPath,
      protocolNames: original.protocolNames,
      allowedMethods: original.allowedMethods,
      supportedContentType: original.supportedContentType,
    },
  );
  router.handlers[at] = handler;
}

/**
 * protobuf-es's request parsing as connect-es sets it up (same options, same limits); the response
 * written from its records, or by protobuf-es when the message carries none (an interceptor replaced
 * it). Errors are wrapped as connect-es's serializations wrap protobuf-es's.
 */
function encoderSerialization(opt: UniversalHandlerOptions): MethodSerializationLookup<typeof KeepAliveRequestSchema, typeof KeepAliveResponseSchema> {
  const protobuf = createMethodSerializationLookup(METHOD, opt.binaryOptions, opt.jsonOptions, opt);
  const textEncoder = new TextEncoder();
  const binary = fromRecords(protobuf.getO(true), opt, (records) => {
    try {
      // A Buffer of its own (finish() copies), backed by an ArrayBuffer as every Node Buffer is.
      return keepAliveResponseBinary(records) as Uint8Array<ArrayBuffer>;
    } catch (e) {
      throw new ConnectError(`serialize binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal);
    }
  });
  const text = fromRecords(protobuf.getO(false), opt, (records) => {
    try {
      return textEncoder.encode(keepAliveResponseJson(records));
    } catch (e) {
      throw ConnectError.from(e, Code.Internal);
    }
  });
  return {
    getI: (useBinary) => protobuf.getI(useBinary),
    getO: (useBinary) => (useBinary ? binary : text),
  };
}

function fromRecords(
  fallback: Serialization<KeepAliveResponse>,
  opt: UniversalHandlerOptions,
  write: (records: readonly KeepAliveResult[]) => Uint8Array<ArrayBuffer>,
): Serialization<KeepAliveResponse> {
  // limitSerialization: the writeMaxBytes check connect-es applies to its own output.
  return limitSerialization(
    {
      parse: (data) => fallback.parse(data),
      serialize(message) {
        const records = keepAliveRecords(message);
        return records === undefined ? fallback.serialize(message) : write(records);
      },
    },
    opt,
  );
}
