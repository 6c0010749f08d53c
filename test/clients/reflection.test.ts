// gRPC server reflection at the protocol level, v1 and v1alpha, over a real h2c connection: what
// grpcurl, buf curl and Postman rely on (symbol kinds, transitive dependencies sent once per stream,
// NOT_FOUND answers), and that the descriptors served are complete enough to encode a request.

import { create, createFileRegistry, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v1 from "../../gen/es/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/es/grpc/reflection/v1alpha/reflection_pb.js";
import { startTestServer, type TestServer } from "../harness/server.js";

type RequestInit = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;
type Response = v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse;

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory");
});
afterAll(async () => {
  await s?.close();
});

/** Sends the requests on one reflection stream (no credentials: reflection is open) and collects the answers. */
async function reflect(version: "v1" | "v1alpha", requests: RequestInit[]): Promise<Response[]> {
  const transport = createGrpcTransport({ baseUrl: s.url });
  const out: Response[] = [];
  const v1Requests = requests.map((r) => create(v1.ServerReflectionRequestSchema, r));
  if (version === "v1") {
    const send = async function* () {
      yield* v1Requests;
    };
    for await (const res of createClient(v1.ServerReflection, transport).serverReflectionInfo(send())) out.push(res);
  } else {
    // The same fields under the v1alpha names: the wire format is identical.
    const send = async function* () {
      for (const r of v1Requests) yield fromBinary(v1alpha.ServerReflectionRequestSchema, toBinary(v1.ServerReflectionRequestSchema, r));
    };
    for await (const res of createClient(v1alpha.ServerReflection, transport).serverReflectionInfo(send())) out.push(res);
  }
  return out;
}

const files = (res: Response | undefined): FileDescriptorProto[] => {
  if (res?.messageResponse.case !== "fileDescriptorResponse") throw new Error(`not a file answer: ${res?.messageResponse.case}`);
  return res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
};
const fileNames = (res: Response | undefined): string[] => files(res).map((f) => f.name);
const errorOf = (res: Response | undefined) => (res?.messageResponse.case === "errorResponse" ? res.messageResponse.value : undefined);

for (const version of ["v1", "v1alpha"] as const) {
  describe(`grpc.reflection.${version}.ServerReflection`, () => {
    it("lists the served services and echoes the request", async () => {
      const [res] = await reflect(version, [{ host: "example", messageRequest: { case: "listServices", value: "*" } }]);
      expect(res?.validHost).toBe("example");
      expect(res?.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
      expect(res?.messageResponse.case).toBe("listServicesResponse");
      const names = res?.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((x) => x.name) : [];
      expect(names.sort()).toEqual(
        ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", "tokenpool.v1.TokenService"].sort(),
      );
    });

    it("answers a file with its transitive dependencies, each sent once per stream", async () => {
      const answers = await reflect(version, [
        { messageRequest: { case: "fileByFilename", value: "tokenpool/v1/token_service.proto" } },
        { messageRequest: { case: "fileByFilename", value: "tokenpool/v1/token_service.proto" } },
        { messageRequest: { case: "fileContainingSymbol", value: "google.protobuf.Duration" } },
      ]);
      expect(fileNames(answers[0])).toEqual([
        "tokenpool/v1/token_service.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/wrappers.proto",
      ]);
      // Later on the same stream: the requested file again, its dependencies not.
      expect(fileNames(answers[1])).toEqual(["tokenpool/v1/token_service.proto"]);
      expect(fileNames(answers[2])).toEqual(["google/protobuf/duration.proto"]);
      // A new stream starts over.
      const [fresh] = await reflect(version, [{ messageRequest: { case: "fileContainingSymbol", value: "tokenpool.v1.Lease" } }]);
      expect(fileNames(fresh)).toHaveLength(4);
    });

    it("finds the file of every kind of symbol", async () => {
      const symbols: Record<string, string> = {
        "tokenpool.v1.TokenService": "tokenpool/v1/token_service.proto", // service
        "tokenpool.v1.TokenService.AssignToken": "tokenpool/v1/token_service.proto", // method
        "tokenpool.v1.Lease": "tokenpool/v1/token_service.proto", // message
        "tokenpool.v1.Lease.generation": "tokenpool/v1/token_service.proto", // field
        "tokenpool.v1.WatchLeasesResponse.kind": "tokenpool/v1/token_service.proto", // oneof
        "tokenpool.v1.LeaseEventType": "tokenpool/v1/token_service.proto", // enum
        "tokenpool.v1.LEASE_EVENT_TYPE_RELEASED": "tokenpool/v1/token_service.proto", // enum value (sibling scope)
        "grpc.health.v1.HealthCheckResponse.ServingStatus": "grpc/health/v1/health.proto", // nested enum
        "grpc.health.v1.HealthCheckResponse.SERVING": "grpc/health/v1/health.proto", // nested enum value
        "grpc.health.v1.HealthListResponse.StatusesEntry": "grpc/health/v1/health.proto", // map entry message
        "grpc.health.v1.HealthListResponse.StatusesEntry.value": "grpc/health/v1/health.proto",
        "grpc.health.v1.Health.Watch": "grpc/health/v1/health.proto",
        "google.protobuf.Timestamp": "google/protobuf/timestamp.proto", // a dependency's type
        "google.rpc.ErrorInfo": "google/rpc/error_details.proto", // error detail types, for decoding errors
        "google.rpc.Status": "google/rpc/status.proto",
      };
      const answers = await reflect(
        version,
        Object.keys(symbols).map((value) => ({ messageRequest: { case: "fileContainingSymbol", value } })),
      );
      expect(answers.map((a) => fileNames(a)[0])).toEqual(Object.values(symbols));
    });

    it("answers NOT_FOUND for unknown files, symbols and extensions; no extension numbers for a message", async () => {
      const answers = await reflect(version, [
        { messageRequest: { case: "fileByFilename", value: "nope.proto" } },
        { messageRequest: { case: "fileContainingSymbol", value: "tokenpool.v1.Nope" } },
        { messageRequest: { case: "fileContainingSymbol", value: "tokenpool.v1.TokenService.Nope" } },
        { messageRequest: { case: "fileContainingExtension", value: { containingType: "tokenpool.v1.Lease", extensionNumber: 100 } } },
        { messageRequest: { case: "allExtensionNumbersOfType", value: "tokenpool.v1.Nope" } },
        { messageRequest: { case: "allExtensionNumbersOfType", value: "tokenpool.v1.LeaseEventType" } },
        { messageRequest: { case: "allExtensionNumbersOfType", value: "tokenpool.v1.Lease" } },
      ]);
      for (const a of answers.slice(0, 6)) expect(errorOf(a)?.errorCode).toBe(Code.NotFound);
      expect(errorOf(answers[0])?.errorMessage).toContain("nope.proto");
      expect(answers[3]?.originalRequest?.messageRequest).toMatchObject({ case: "fileContainingExtension", value: { containingType: "tokenpool.v1.Lease", extensionNumber: 100 } });
      expect(answers[6]?.messageResponse).toMatchObject({ case: "allExtensionNumbersResponse", value: { baseTypeName: "tokenpool.v1.Lease", extensionNumber: [] } });
    });

    it("serves descriptors complete enough to encode a request without local schema", async () => {
      const [res] = await reflect(version, [{ messageRequest: { case: "fileContainingSymbol", value: "tokenpool.v1.TokenService" } }]);
      // The requested file comes first, then its dependencies: resolve imports by name, as clients do.
      const [root, ...deps] = files(res);
      const registry = createFileRegistry(root!, (name) => deps.find((d) => d.name === name));
      const service = registry.getService("tokenpool.v1.TokenService");
      expect(service?.methods.map((m) => m.name)).toContain("WatchLeases");
      const input = service!.methods.find((m) => m.name === "AssignToken")!.input;
      const bytes = toBinary(input, create(input, { pool: "default", owner: "me", leaseTtl: { seconds: 5n } }));
      expect(bytes.length).toBeGreaterThan(0);
    });
  });
}
