// A Connect-protocol unary POST handler whose response serialization is the caller's: connect-es's own
// unary handler, rebuilt from its public exports, for a method that writes its answer itself.
//
// Mirrors createUnaryHandler of @connectrpc/connect 2.2.0 (dist/esm/protocol-connect/handler-factory.js)
// line for line, minus its GET branch (only POSTs are sent here, see keep-alive-route.ts): re-check it
// against that function on every connect-es upgrade. Every other step is connect-es's own code: the
// context, deadline, compression negotiation, body limits, request gate, interceptors, error body and
// headers are the same functions called with the same options, so an answer differs only in who
// serialized the message.

import { Code, ConnectError, createHandlerContext, type MethodImplSpec } from "@connectrpc/connect";
import {
  compressionNegotiate,
  createAsyncIterable,
  invokeUnaryImplementation,
  mergeNonProtocolHeaders,
  readAllBytes,
  uResponseOk,
  uResponseUnsupportedMediaType,
  type MethodSerializationLookup,
  type UniversalHandlerFn,
  type UniversalHandlerOptions,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  headerContentType,
  headerProtocolVersion,
  headerTimeout,
  headerUnaryAcceptEncoding,
  headerUnaryContentLength,
  headerUnaryEncoding,
  parseContentType,
  parseTimeout,
  protocolVersion,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import { fromJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

const PROTOCOL_NAME = "connect";

export type UnarySpec<I extends DescMessage, O extends DescMessage> = MethodImplSpec<I, O> & { kind: "unary" };

/** `opt`: validated options (validateUniversalHandlerOptions), the router's own. */
export function connectUnaryPostHandler<I extends DescMessage, O extends DescMessage>(
  opt: UniversalHandlerOptions,
  spec: UnarySpec<I, O>,
  serialization: MethodSerializationLookup<I, O>,
): UniversalHandlerFn {
  return async function handle(req) {
    const type = parseContentType(req.header.get(headerContentType));
    if (type === undefined || type.stream) return uResponseUnsupportedMediaType;
    const timeout = parseTimeout(req.header.get(headerTimeout), opt.maxTimeoutMs);
    const context = createHandlerContext({
      service: spec.method.parent,
      method: spec.method,
      requestMethod: req.method,
      protocolName: PROTOCOL_NAME,
      timeoutMs: timeout.timeoutMs,
      shutdownSignal: opt.shutdownSignal,
      requestSignal: req.signal,
      requestHeader: req.header,
      url: req.url,
      responseHeader: { [headerContentType]: type.binary ? contentTypeUnaryProto : contentTypeUnaryJson },
      contextValues: req.contextValues,
    });
    const compression = compressionNegotiate(opt.acceptCompression, req.header.get(headerUnaryEncoding), req.header.get(headerUnaryAcceptEncoding), headerUnaryAcceptEncoding);
    let status = uResponseOk.status;
    let body: Uint8Array;
    try {
      // As connect-es: the gate runs before the body is read, so a request it rejects is never read.
      if (opt.requestGate !== undefined) await opt.requestGate(context);
      if (opt.requireConnectProtocolHeader) requireProtocolVersionHeader(req.header);
      if (compression.error) throw compression.error;
      if (timeout.error) throw timeout.error;
      const reqBody = await readBody(opt.readMaxBytes, compression.request, req);
      const input = parseMessage(spec.method.input, type.binary, serialization, reqBody);
      const output = await invokeUnaryImplementation(spec, context, input, opt.interceptors);
      body = serialization.getO(type.binary).serialize(output);
    } catch (e) {
      context.abort(e);
      const error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
      status = codeToHttpStatus(error.code);
      context.responseHeader.set(headerContentType, contentTypeUnaryJson);
      // As connect-es: an error parsed from the wire relays its payload, not its metadata.
      if (!error.isWireError) mergeNonProtocolHeaders(context.responseHeader, error.metadata);
      body = errorToJsonBytes(error, opt.jsonOptions);
    } finally {
      context.abort();
    }
    if (compression.response && body.byteLength >= opt.compressMinBytes) {
      body = await compression.response.compress(body);
      context.responseHeader.set(headerUnaryEncoding, compression.response.name);
    }
    const header = trailerMux(context.responseHeader, context.responseTrailer);
    header.set(headerUnaryContentLength, body.byteLength.toString(10));
    return { status, body: createAsyncIterable([body]), header };
  };
}

/** connect-es's readUnaryMessageFromBody: an adapter may hand over a byte stream or parsed JSON. */
async function readBody(readMaxBytes: number, compression: ReturnType<typeof compressionNegotiate>["request"], req: UniversalServerRequest): Promise<Uint8Array | UniversalServerRequest["body"]> {
  const body = req.body;
  if (typeof body === "object" && body !== null && Symbol.asyncIterator in body) {
    let bytes = await readAllBytes(body, readMaxBytes, req.header.get(headerUnaryContentLength));
    if (compression) bytes = await compression.decompress(bytes, readMaxBytes);
    return bytes;
  }
  return body;
}

/** connect-es's parseUnaryMessage. */
function parseMessage<I extends DescMessage, O extends DescMessage>(input: I, binary: boolean, serialization: MethodSerializationLookup<I, O>, body: Uint8Array | UniversalServerRequest["body"]): MessageShape<I> {
  if (body instanceof Uint8Array) return serialization.getI(binary).parse(body);
  if (binary) throw new ConnectError("received parsed JSON request body, but content-type indicates binary format", Code.Internal);
  try {
    return fromJson(input, body as Exclude<UniversalServerRequest["body"], AsyncIterable<Uint8Array>>);
  } catch (e) {
    throw ConnectError.from(e, Code.InvalidArgument);
  }
}

/** connect-es's requireProtocolVersionHeader (not exported), same messages. */
function requireProtocolVersionHeader(header: Headers): void {
  const v = header.get(headerProtocolVersion);
  if (v === null) throw new ConnectError(`missing required header: set ${headerProtocolVersion} to "${protocolVersion}"`, Code.InvalidArgument);
  if (v !== protocolVersion) throw new ConnectError(`${headerProtocolVersion} must be "${protocolVersion}": got "${v}"`, Code.InvalidArgument);
}
