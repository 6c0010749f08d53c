// The grpc-js baseline: the same TokenService (ts-proto stubs) on @grpc/grpc-js with handlers that
// answer empty messages at once, to show what a gRPC-only server costs per call on this machine.

import { Server, ServerCredentials, type handleUnaryCall, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";
import { TokenServiceService, type TokenServiceServer, type WatchLeasesRequest, type WatchLeasesResponse } from "../../../gen/ts-proto/tokenpool/v1/token_service.js";
import { announce, listenOptions } from "./listen.js";

/** A unary handler answering the method's empty response, decoded from zero bytes so ts-proto fills every default. */
function empty<Req, Res>(method: { responseDeserialize(bytes: Buffer): Res }): handleUnaryCall<Req, Res> {
  const response = method.responseDeserialize(Buffer.alloc(0));
  return (_call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => callback(null, response);
}

const s = TokenServiceService;
const impl: TokenServiceServer = {
  createPool: empty(s.createPool),
  getPool: empty(s.getPool),
  listPools: empty(s.listPools),
  deletePool: empty(s.deletePool),
  generateTokens: empty(s.generateTokens),
  assignToken: empty(s.assignToken),
  keepAlive: empty(s.keepAlive),
  releaseToken: empty(s.releaseToken),
  deleteToken: empty(s.deleteToken),
  getToken: empty(s.getToken),
  updatePool: empty(s.updatePool),
  assignTokens: empty(s.assignTokens),
  listTokens: empty(s.listTokens),
  cordonToken: empty(s.cordonToken),
  uncordonToken: empty(s.uncordonToken),
  watchLeases: (call: ServerWritableStream<WatchLeasesRequest, WatchLeasesResponse>) => call.end(),
};

const { host, port } = listenOptions();
const server = new Server();
server.addService(TokenServiceService, impl);
const bound = await new Promise<number>((resolve, reject) =>
  server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
);
announce({ address: host, family: "IPv4", port: bound });
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
