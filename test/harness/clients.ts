// Real clients for the conformance suite, one per protocol/library, behind one JSON-in/JSON-out shape.
// Each adapter converts the canonical proto JSON to its library's native messages through the binary
// wire format, so every call is made by the real client library over a real socket.

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema, type ErrorInfo } from "../../gen/es/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/es/google/rpc/status_pb.js";
import { TokenService } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import * as tsProto from "../../gen/ts-proto/tokenpool/v1/token_service.js";
import { END_STREAM, jsonEnvelope, splitEnvelopes } from "./envelope.js";

export type MethodName = keyof typeof TokenService.method;
export type UnaryMethod = Exclude<MethodName, "watchLeases">;

export interface CallOptions {
  /** Overrides the client's password; null sends no credentials at all. */
  readonly password?: string | null;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A failed call, normalised across libraries. */
export class RpcError extends Error {
  constructor(
    /** Connect code name, e.g. "not_found" (gRPC codes map one to one). */
    readonly code: string,
    /** ErrorInfo.reason, when the server sent one. */
    readonly reason: string | undefined,
    message: string,
    readonly metadata: Record<string, string> = {},
    /** HTTP status, for clients that see it (Connect JSON over fetch). */
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

export interface TestClient {
  readonly name: string;
  unary(method: UnaryMethod, request: JsonObject, options?: CallOptions): Promise<JsonObject>;
  watch(request: JsonObject, options?: CallOptions): AsyncIterable<JsonObject>;
  close(): void;
}

const CODE_NAMES: Record<number, string> = {
  [Code.Canceled]: "canceled",
  [Code.Unknown]: "unknown",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "already_exists",
  [Code.PermissionDenied]: "permission_denied",
  [Code.ResourceExhausted]: "resource_exhausted",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.Aborted]: "aborted",
  [Code.OutOfRange]: "out_of_range",
  [Code.Unimplemented]: "unimplemented",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "data_loss",
  [Code.Unauthenticated]: "unauthenticated",
};

const registry = createRegistry(ErrorInfoSchema);
const methodOf = (m: MethodName) => TokenService.method[m];

function toCanonicalJson(schema: DescMessage, bytes: Uint8Array): JsonObject {
  return toJson(schema, fromBinary(schema, bytes), { alwaysEmitImplicit: false }) as JsonObject;
}

function fromCanonicalJson(schema: DescMessage, json: JsonObject): Uint8Array {
  return toBinary(schema, fromJson(schema, json as JsonValue));
}

function errorInfoOf(details: readonly Any[]): ErrorInfo | undefined {
  for (const d of details) {
    const unpacked = anyUnpack(d, registry);
    if (unpacked?.$typeName === "google.rpc.ErrorInfo") return unpacked as ErrorInfo;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Connect JSON over plain fetch (HTTP/1.1): what a curl user sees.

export function connectJsonFetchClient(baseUrl: string, password: string): TestClient {
  const headers = (o?: CallOptions): Record<string, string> => {
    const pw = o?.password === undefined ? password : o.password;
    return {
      "content-type": "application/json",
      ...(pw !== null && { "x-api-password": pw }),
      ...(o?.timeoutMs !== undefined && { "connect-timeout-ms": String(o.timeoutMs) }),
    };
  };
  return {
    name: "connect-json/fetch/http1.1",
    async unary(method, request, o) {
      const res = await fetch(`${baseUrl}/${TokenService.typeName}/${methodOf(method).name}`, {
        method: "POST",
        headers: headers(o),
        body: JSON.stringify(request),
        ...(o?.signal && { signal: o.signal }),
      });
      const body = (await res.json()) as JsonObject;
      if (res.ok) return body;
      throw connectJsonError(body, res.status);
    },
    async *watch(request, o) {
      const res = await fetch(`${baseUrl}/${TokenService.typeName}/WatchLeases`, {
        method: "POST",
        headers: { ...headers(o), "content-type": "application/connect+json" },
        body: jsonEnvelope(request),
        ...(o?.signal && { signal: o.signal }),
      });
      if (!res.ok || !res.body) throw connectJsonError((await res.json()) as JsonObject, res.status);
      let buf: Buffer = Buffer.alloc(0);
      for await (const chunk of res.body) {
        const split = splitEnvelopes(Buffer.concat([buf, chunk as Uint8Array]));
        buf = split.rest;
        for (const { flags, data } of split.frames) {
          const payload = JSON.parse(data.toString("utf8")) as JsonObject;
          if (flags & END_STREAM) {
            // End-of-stream frame: an error, or a clean end.
            if (payload.error) throw connectJsonError(payload.error as JsonObject, res.status);
            return;
          }
          yield payload;
        }
      }
    },
    close() {},
  };
}

function connectJsonError(body: JsonObject, httpStatus: number): RpcError {
  let reason: string | undefined;
  let metadata: Record<string, string> = {};
  for (const d of (body.details as JsonObject[] | undefined) ?? []) {
    if (d.type === "google.rpc.ErrorInfo" && typeof d.value === "string") {
      const info = fromBinary(ErrorInfoSchema, Buffer.from(d.value, "base64"));
      reason = info.reason;
      metadata = info.metadata;
    }
  }
  return new RpcError(String(body.code), reason, String(body.message ?? ""), metadata, httpStatus);
}

// ---------------------------------------------------------------------------------------------
// @connectrpc/connect clients: Connect binary over HTTP/2, gRPC-Web over HTTP/1.1, gRPC over h2c.

export type ConnectFlavour = "connect-binary-h2" | "grpc-web-h1" | "grpc-h2";

export function connectClient(baseUrl: string, password: string, flavour: ConnectFlavour): TestClient {
  const auth: Interceptor = (next) => async (req) => {
    if (!req.header.has("x-api-password") && !req.header.has("x-no-auth")) req.header.set("x-api-password", password);
    req.header.delete("x-no-auth");
    return next(req);
  };
  const transport =
    flavour === "connect-binary-h2"
      ? createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors: [auth] })
      : flavour === "grpc-web-h1"
        ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [auth] })
        : createGrpcTransport({ baseUrl, interceptors: [auth] });
  const client = createClient(TokenService, transport);
  const callOptions = (o?: CallOptions) => ({
    headers: o?.password === null ? { "x-no-auth": "1" } : o?.password !== undefined ? { "x-api-password": o.password } : {},
    ...(o?.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }),
    ...(o?.signal && { signal: o.signal }),
  });
  const fail = (e: unknown): RpcError => {
    const ce = ConnectError.from(e);
    const info = ce.findDetails(ErrorInfoSchema)[0];
    return new RpcError(CODE_NAMES[ce.code] ?? String(ce.code), info?.reason, ce.rawMessage, info?.metadata ?? {});
  };
  return {
    name: `connect-es/${flavour}`,
    async unary(method, request, o) {
      const m = methodOf(method);
      const call = client[method] as (req: unknown, opts: unknown) => Promise<unknown>;
      try {
        const res = await call(fromJson(m.input, request), callOptions(o));
        return toJson(m.output, res as never) as JsonObject;
      } catch (e) {
        throw fail(e);
      }
    },
    async *watch(request, o) {
      try {
        const m = TokenService.method.watchLeases;
        for await (const res of client.watchLeases(fromJson(m.input, request), callOptions(o))) {
          yield toJson(m.output, res) as JsonObject;
        }
      } catch (e) {
        throw fail(e);
      }
    },
    close() {},
  };
}

// ---------------------------------------------------------------------------------------------
// grpc-js with gRPC status details decoding, shared by the ts-proto and proto-loader clients.

function grpcMetadata(password: string, o?: CallOptions): grpc.Metadata {
  const md = new grpc.Metadata();
  const pw = o?.password === undefined ? password : o.password;
  if (pw !== null) md.set("x-api-password", pw);
  return md;
}

function grpcCallOptions(o?: CallOptions): Partial<grpc.CallOptions> {
  return o?.timeoutMs !== undefined ? { deadline: new Date(Date.now() + o.timeoutMs) } : {};
}

function grpcFailure(e: unknown): RpcError {
  const se = e as grpc.ServiceError;
  let reason: string | undefined;
  let metadata: Record<string, string> = {};
  const raw = se.metadata?.get("grpc-status-details-bin")[0];
  if (raw instanceof Buffer) {
    const status = fromBinary(StatusSchema, raw);
    const info = errorInfoOf(status.details);
    reason = info?.reason;
    metadata = info?.metadata ?? {};
  }
  return new RpcError(CODE_NAMES[se.code] ?? String(se.code), reason, se.details ?? se.message, metadata);
}

/** Cancels a grpc-js call when the caller's signal aborts. */
function linkAbort(call: { cancel(): void }, signal: AbortSignal | undefined): void {
  if (!signal) return;
  if (signal.aborted) call.cancel();
  else signal.addEventListener("abort", () => call.cancel(), { once: true });
}

interface MessageFns {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
}

// ts-proto generated client (outputServices=grpc-js): the classic generated-stub experience.
export function tsProtoClient(address: string, password: string): TestClient {
  const client = new tsProto.TokenServiceClient(address, grpc.credentials.createInsecure());
  const fns = (name: string): MessageFns => (tsProto as unknown as Record<string, MessageFns>)[name]!;
  return {
    name: "grpc-js/ts-proto/h2c",
    unary(method, request, o) {
      const m = methodOf(method);
      const req = fns(`${m.name}Request`).decode(fromCanonicalJson(m.input, request));
      const fn = (client as unknown as Record<string, Function>)[method]!.bind(client);
      return new Promise((resolve, reject) => {
        const call = fn(req, grpcMetadata(password, o), grpcCallOptions(o), (err: grpc.ServiceError | null, res: unknown) => {
          if (err) reject(grpcFailure(err));
          else resolve(toCanonicalJson(m.output, fns(`${m.name}Response`).encode(res).finish()));
        });
        linkAbort(call, o?.signal);
      });
    },
    async *watch(request, o) {
      const m = methodOf("watchLeases");
      const req = tsProto.WatchLeasesRequest.decode(fromCanonicalJson(m.input, request));
      const call = client.watchLeases(req, grpcMetadata(password, o), grpcCallOptions(o));
      linkAbort(call, o?.signal);
      try {
        for await (const res of call) yield toCanonicalJson(m.output, tsProto.WatchLeasesResponse.encode(res as tsProto.WatchLeasesResponse).finish());
      } catch (e) {
        throw grpcFailure(e);
      } finally {
        call.cancel();
      }
    },
    close: () => client.close(),
  };
}

// @grpc/proto-loader dynamic client: loads the .proto at run time, no generated code.
export function protoLoaderClient(address: string, password: string, protoRoot: string): TestClient {
  const definition = protoLoader.loadSync("tokenpool/v1/token_service.proto", {
    includeDirs: [protoRoot],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    tokenpool: { v1: { TokenService: new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client } };
  };
  const client = new pkg.tokenpool.v1.TokenService(address, grpc.credentials.createInsecure());
  const service = definition["tokenpool.v1.TokenService"] as protoLoader.ServiceDefinition;
  const codecs = (name: string) => service[name]!;
  return {
    name: "grpc-js/proto-loader/h2c",
    unary(method, request, o) {
      const m = methodOf(method);
      const c = codecs(m.name);
      const req = c.requestDeserialize(Buffer.from(fromCanonicalJson(m.input, request)));
      const fn = (client as unknown as Record<string, Function>)[m.name]!.bind(client);
      return new Promise((resolve, reject) => {
        const call = fn(req, grpcMetadata(password, o), grpcCallOptions(o), (err: grpc.ServiceError | null, res: unknown) => {
          if (err) reject(grpcFailure(err));
          else resolve(toCanonicalJson(m.output, c.responseSerialize(res as object)));
        });
        linkAbort(call, o?.signal);
      });
    },
    async *watch(request, o) {
      const m = methodOf("watchLeases");
      const c = codecs(m.name);
      const fn = (client as unknown as Record<string, Function>)[m.name]!.bind(client);
      const call = fn(c.requestDeserialize(Buffer.from(fromCanonicalJson(m.input, request))), grpcMetadata(password, o), grpcCallOptions(o)) as grpc.ClientReadableStream<unknown>;
      linkAbort(call, o?.signal);
      try {
        for await (const res of call) yield toCanonicalJson(m.output, c.responseSerialize(res as object));
      } catch (e) {
        throw grpcFailure(e);
      } finally {
        call.cancel();
      }
    },
    close: () => client.close(),
  };
}
