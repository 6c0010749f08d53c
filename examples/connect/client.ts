// A Connect client (connect-es, gRPC protocol over HTTP/2): assign, inspect, release, and handle
// POOL_EXHAUSTED by reading the ErrorInfo detail.
// Run: TOKENPOOL_URL=http://127.0.0.1:8080 TOKENPOOL_PASSWORD=… node --import tsx examples/connect/client.ts

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { TokenService, TokenState } from "../../gen/es/tokenpool/v1/token_service_pb.js";

const transport = createGrpcTransport({
  baseUrl: process.env.TOKENPOOL_URL ?? "http://127.0.0.1:8080",
  interceptors: [(next) => (req) => (req.header.set("x-api-password", process.env.TOKENPOOL_PASSWORD ?? ""), next(req))],
});
const tokens = createClient(TokenService, transport);

const pool = `connect-example-${process.pid}`;
await tokens.createPool({ name: pool, initialTokens: 1 });
const { lease } = await tokens.assignToken({ pool, owner: "connect-example" });
console.log(`assigned ${lease?.token} generation ${lease?.generation}`);
try {
  await tokens.assignToken({ pool, owner: "someone-else" });
} catch (e) {
  const err = ConnectError.from(e);
  const reason = err.findDetails(ErrorInfoSchema)[0]?.reason;
  console.log(`second assign: ${Code[err.code]} ${reason}`);
}
const token = await tokens.getToken({ pool, token: lease!.token });
console.log(`state ${token.state === TokenState.HELD ? "held" : "free"} by ${token.lease?.owner}`);
await tokens.releaseToken({ pool, token: lease!.token, generation: lease!.generation });
await tokens.deletePool({ name: pool });
console.log("done");
