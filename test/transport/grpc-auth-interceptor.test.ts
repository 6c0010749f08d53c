// The grpc-js engine's fallback early auth check (transport/grpc/auth-gate.ts): installed instead of the
// stream-level gate when grpc-js's HTTP/2 server cannot be reached. On a real grpc-js server and
// client: a call without the password, or with a wrong one, ends UNAUTHENTICATED with the request id
// and the error details, its handler never runs and its rejection is reported at the "request" stage;
// a call with the password (either header form) reaches the handler.

import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { PasswordCheck } from "../../src/service/auth.js";
import { grpcAuthGate } from "../../src/transport/grpc/auth-gate.js";
import { STATUS_DETAILS_HEADER } from "../../src/transport/grpc/status.js";

const PASSWORD = "interceptor-test-secret";
const PATH = `/${TokenService.typeName}/GetPool`;
const raw = (b: Buffer): Buffer => b;

describe("grpc-js auth interceptor (where the stream gate cannot be installed)", () => {
  let server: grpc.Server;
  let client: grpc.Client;
  let handled = 0;
  const rejected: { route: string; stage: string; presented: string }[] = [];

  beforeAll(async () => {
    server = new grpc.Server({
      interceptors: [
        grpcAuthGate({
          check: new PasswordCheck(PASSWORD),
          services: [TokenService],
          requestId: (presented) => presented ?? "rid-made-here",
          requestIdHeader: "x-request-id",
          onReject: (f) => rejected.push({ route: f.route, stage: f.stage, presented: f.presented }),
        }),
      ],
    });
    server.addService(
      { GetPool: { path: PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
      {
        GetPool: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          handled++;
          callback(null, Buffer.alloc(0));
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  const call = (headers: Record<string, string>): Promise<{ error: grpc.ServiceError | null; trailers: grpc.Metadata | undefined }> =>
    new Promise((resolve) => {
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
      client.makeUnaryRequest(PATH, raw, raw, Buffer.alloc(0), metadata, (error) => resolve({ error, trailers: error?.metadata }));
    });

  it("refuses a call without the password, or with a wrong one, before its handler runs", async () => {
    const cases: Record<string, string>[] = [{}, { "x-api-password": "wrong" }, { authorization: "Bearer wrong" }, { "x-request-id": "mine-1" }];
    for (const headers of cases) {
      const before = handled;
      const { error, trailers } = await call(headers);
      expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(handled).toBe(before);
      expect(trailers?.get("x-request-id")[0]).toBe("x-request-id" in headers ? "mine-1" : "rid-made-here");
      expect(trailers?.get(STATUS_DETAILS_HEADER).length).toBe(1);
    }
    expect(rejected.map((r) => [r.route, r.stage])).toEqual(Array.from({ length: 4 }, () => [PATH, "request"]));
    expect(rejected.map((r) => r.presented)).toEqual(["none", "x-api-password", "bearer", "none"]);
  });

  it("lets a call with the password, in either header form, reach its handler", async () => {
    const before = handled;
    expect((await call({ "x-api-password": PASSWORD })).error).toBeNull();
    expect((await call({ authorization: `Bearer ${PASSWORD}` })).error).toBeNull();
    expect(handled).toBe(before + 2);
  });
});
