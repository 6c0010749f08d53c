// gRPC server reflection (v1 and v1alpha) over the @bufbuild/protobuf registry of the services we
// serve, so `buf curl`, grpcurl and Postman can call tokenpool without a local schema.

import { createRegistry, toBinary, type DescFile, type MessageInitShape, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import * as v1 from "../../../gen/es/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../../gen/es/grpc/reflection/v1alpha/reflection_pb.js";

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
// The two versions are field-for-field identical, so one answer shape serves both.
type Response = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;

export function reflectionRoutes(files: readonly DescFile[], serviceNames: readonly string[]) {
  const registry = createRegistry(...files);
  const byName = new Map<string, DescFile>();
  const index = (f: DescFile): void => {
    if (byName.has(f.proto.name)) return;
    byName.set(f.proto.name, f);
    f.dependencies.forEach(index);
  };
  files.forEach(index);
  const answer = (req: Request): Response => {
    const base = { validHost: req.host, originalRequest: req as v1.ServerReflectionRequest };
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { ...base, messageResponse: { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } } };
      case "fileByFilename": {
        const file = byName.get(r.value);
        return file ? withFiles(base, file) : notFound(base, `file "${r.value}" not found`);
      }
      case "fileContainingSymbol": {
        const file = fileOfSymbol(registry, r.value);
        return file ? withFiles(base, file) : notFound(base, `symbol "${r.value}" not found`);
      }
      case "fileContainingExtension": {
        const extendee = registry.getMessage(r.value.containingType);
        const ext = extendee && registry.getExtensionFor(extendee, r.value.extensionNumber);
        return ext ? withFiles(base, ext.file) : notFound(base, `extension ${r.value.extensionNumber} of "${r.value.containingType}" not found`);
      }
      case "allExtensionNumbersOfType": {
        const message = registry.getMessage(r.value);
        if (!message) return notFound(base, `type "${r.value}" not found`);
        const numbers: number[] = [];
        for (const t of registry) if (t.kind === "extension" && t.extendee.typeName === message.typeName) numbers.push(t.number);
        return { ...base, messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } } };
      }
      default:
        return { ...base, messageResponse: { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "empty request" } } };
    }
  };
  return (router: ConnectRouter): void => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield answer(req);
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield answer(req) as MessageInitShape<typeof v1alpha.ServerReflectionResponseSchema>;
      },
    });
  };
}

/** The file of a message, enum, service, method (pkg.Service.Method) or extension. */
function fileOfSymbol(registry: Registry, symbol: string): DescFile | undefined {
  const found = registry.get(symbol);
  if (found) return found.file;
  const dot = symbol.lastIndexOf(".");
  const service = dot > 0 ? registry.getService(symbol.slice(0, dot)) : undefined;
  return service?.methods.some((m) => m.name === symbol.slice(dot + 1)) ? service.file : undefined;
}

/** The file and, as grpc-go sends them, all its transitive dependencies. */
function withFiles(base: Pick<Response, "validHost" | "originalRequest">, file: DescFile): Response {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) visit(dep);
  };
  visit(file);
  return { ...base, messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } } };
}

function notFound(base: Pick<Response, "validHost" | "originalRequest">, message: string): Response {
  return { ...base, messageResponse: { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } } };
}
