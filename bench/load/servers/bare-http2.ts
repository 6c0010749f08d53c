// The bare node:http2 baseline: the raw stream API answers every stream with a fixed small message
// (Connect-binary shaped, or gRPC shaped with trailers): the ceiling any Node HTTP/2 framework has.

import http2 from "node:http2";
import { announce, listenOptions } from "./listen.js";

// AssignTokenResponse{available: 1}: a realistic smallest reply.
const MESSAGE = Buffer.from([0x10, 0x01]);
const GRPC_BODY = Buffer.concat([Buffer.from([0, 0, 0, 0, MESSAGE.length]), MESSAGE]);
const PROTO_HEADERS = { ":status": 200, "content-type": "application/proto", "content-length": String(MESSAGE.length) };
const GRPC_HEADERS = { ":status": 200, "content-type": "application/grpc" };
const GRPC_TRAILERS = { "grpc-status": "0" };

const { host, port } = listenOptions();
const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on("stream", (stream, headers) => {
  // The request body is drained unread; answering does not wait for it.
  stream.resume();
  if (String(headers["content-type"]).startsWith("application/grpc")) {
    stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(GRPC_TRAILERS));
    stream.end(GRPC_BODY);
  } else {
    stream.respond(PROTO_HEADERS);
    stream.end(MESSAGE);
  }
});
server.listen(port, host, () => {
  const address = server.address();
  if (address && typeof address === "object") announce(address);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
