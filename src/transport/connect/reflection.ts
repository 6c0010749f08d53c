// gRPC server reflection (v1 and v1alpha) over the protobuf-es descriptors of the services we serve,
// so `buf curl`, grpcurl and Postman can call tokenpool without a local schema.

import { toBinary, type DescExtension, type DescFile, type MessageInitShape } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import * as v1 from "../../../gen/es/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../../gen/es/grpc/reflection/v1alpha/reflection_pb.js";

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
// The two versions are field-for-field identical, so one answer shape serves both.
type Response = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;
type Answer = Response["messageResponse"];

/** What reflection can answer from: every file reachable from `files`, indexed by name and symbol. */
interface Index {
  readonly files: ReadonlyMap<string, DescFile>;
  /** Fully qualified names of messages, enums, enum values, services, methods, fields, oneofs, extensions. */
  readonly symbols: ReadonlyMap<string, DescFile>;
  /** Extendee type name → extension number → extension. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, DescExtension>>;
}

export function reflectionServices(
  files: readonly DescFile[],
  serviceNames: readonly string[],
): { readonly v1: ServiceImpl<typeof v1.ServerReflection>; readonly v1alpha: ServiceImpl<typeof v1alpha.ServerReflection> } {
  const index = buildIndex(files);
  const serve = async function* (requests: AsyncIterable<Request>): AsyncIterable<Response> {
    // Per stream, like grpc-go: a dependency already sent is not sent again (the requested file always is).
    const sent = new Set<string>();
    for await (const req of requests) {
      yield { validHost: req.host, originalRequest: echo(req), messageResponse: answer(index, serviceNames, req, sent) };
    }
  };
  return {
    v1: { serverReflectionInfo: serve },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        yield* serve(requests) as AsyncIterable<MessageInitShape<typeof v1alpha.ServerReflectionResponseSchema>>;
      },
    },
  };
}

function answer(index: Index, serviceNames: readonly string[], req: Request, sent: Set<string>): Answer {
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } };
    case "fileByFilename": {
      const file = index.files.get(r.value);
      return file ? withDependencies(file, sent) : error(Code.NotFound, `file "${r.value}" not found`);
    }
    case "fileContainingSymbol": {
      const file = index.symbols.get(r.value);
      return file ? withDependencies(file, sent) : error(Code.NotFound, `symbol "${r.value}" not found`);
    }
    case "fileContainingExtension": {
      const ext = index.extensions.get(r.value.containingType)?.get(r.value.extensionNumber);
      return ext ? withDependencies(ext.file, sent) : error(Code.NotFound, `extension ${r.value.extensionNumber} of "${r.value.containingType}" not found`);
    }
    case "allExtensionNumbersOfType": {
      if (!isMessage(index, r.value)) return error(Code.NotFound, `message type "${r.value}" not found`);
      const numbers = [...(index.extensions.get(r.value)?.keys() ?? [])].sort((a, b) => a - b);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } };
    }
    default:
      return error(Code.InvalidArgument, "empty reflection request");
  }
}

/** The request as a version-neutral init object (a v1alpha message's $typeName would not fit v1). */
function echo(req: Request): Response["originalRequest"] {
  const r = req.messageRequest;
  const messageRequest: NonNullable<Response["originalRequest"]>["messageRequest"] =
    r.case === "fileContainingExtension"
      ? { case: r.case, value: { containingType: r.value.containingType, extensionNumber: r.value.extensionNumber } }
      : r.case === undefined
        ? { case: undefined }
        : { case: r.case, value: r.value };
  return { host: req.host, messageRequest };
}

function buildIndex(roots: readonly DescFile[]): Index {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const extensions = new Map<string, Map<number, DescExtension>>();
  const add = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const t of nestedTypes(file)) {
      symbols.set(t.typeName, file);
      switch (t.kind) {
        case "message":
          for (const f of t.fields) symbols.set(`${t.typeName}.${f.name}`, file);
          for (const o of t.oneofs) symbols.set(`${t.typeName}.${o.name}`, file);
          // Map entry messages are synthetic, so protobuf-es leaves them out of nestedTypes.
          for (const entry of t.proto.nestedType) {
            if (!entry.options?.mapEntry) continue;
            symbols.set(`${t.typeName}.${entry.name}`, file);
            for (const f of entry.field) symbols.set(`${t.typeName}.${entry.name}.${f.name}`, file);
          }
          break;
        case "enum": {
          // Enum values are scoped as siblings of their enum (C++ rules), not inside it.
          const scope = t.parent?.typeName ?? file.proto.package;
          for (const v of t.values) symbols.set(scope ? `${scope}.${v.name}` : v.name, file);
          break;
        }
        case "service":
          for (const m of t.methods) symbols.set(`${t.typeName}.${m.name}`, file);
          break;
        case "extension": {
          let byNumber = extensions.get(t.extendee.typeName);
          if (!byNumber) extensions.set(t.extendee.typeName, (byNumber = new Map()));
          byNumber.set(t.number, t);
          break;
        }
      }
    }
    file.dependencies.forEach(add);
  };
  roots.forEach(add);
  return { files, symbols, extensions };
}

function isMessage(index: Index, typeName: string): boolean {
  const file = index.symbols.get(typeName);
  if (!file) return false;
  for (const t of nestedTypes(file)) if (t.kind === "message" && t.typeName === typeName) return true;
  return false;
}

/** The file, then (breadth first, as grpc-go does) every transitive dependency not yet sent on this stream. */
function withDependencies(file: DescFile, sent: Set<string>): Answer {
  const out: Uint8Array[] = [];
  const queued = new Set<string>([file.proto.name]);
  const queue: DescFile[] = [file];
  for (let f = queue.shift(); f; f = queue.shift()) {
    if (out.length === 0 || !sent.has(f.proto.name)) {
      sent.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    }
    for (const dep of f.dependencies) {
      if (!queued.has(dep.proto.name)) {
        queued.add(dep.proto.name);
        queue.push(dep);
      }
    }
  }
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
}

function error(code: Code, message: string): Answer {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}
