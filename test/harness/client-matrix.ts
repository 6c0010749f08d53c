// Every client the conformance suite drives, built against one running server. On the default server
// native gRPC is served by the grpc-js engine; the same gRPC clients also run against a server started
// with --grpc-engine connect, where connect-node serves them.

import { fileURLToPath } from "node:url";
import { connectClient, connectJsonFetchClient, protoLoaderClient, tsProtoClient, type TestClient } from "./clients.js";
import type { TestServer } from "./server.js";

const PROTO_ROOT = fileURLToPath(new URL("../../proto", import.meta.url));

export type ClientFactory = (s: TestServer) => TestClient;

export const CLIENTS: Readonly<Record<string, ClientFactory>> = {
  "connect-json (fetch, HTTP/1.1)": (s) => connectJsonFetchClient(s.url, s.password),
  "connect-binary (connect-es, HTTP/2)": (s) => connectClient(s.url, s.password, "connect-binary-h2"),
  "grpc-web (connect-es, HTTP/1.1)": (s) => connectClient(s.url, s.password, "grpc-web-h1"),
  "grpc (connect-es, h2c)": (s) => connectClient(s.url, s.password, "grpc-h2"),
  "grpc (grpc-js + ts-proto, h2c)": (s) => tsProtoClient(s.address, s.password),
  "grpc (grpc-js + proto-loader, h2c)": (s) => protoLoaderClient(s.address, s.password, PROTO_ROOT),
};

/** The native gRPC clients (gRPC-Web is not native gRPC: connect-node serves it on either engine). */
const GRPC_CLIENTS = ["grpc (connect-es, h2c)", "grpc (grpc-js + ts-proto, h2c)", "grpc (grpc-js + proto-loader, h2c)"] as const;

/** Server flags that put native gRPC on connect-node, and the clients to run against such a server. */
export const CONNECT_ENGINE = {
  flags: ["--grpc-engine", "connect"],
  clients: Object.fromEntries(GRPC_CLIENTS.map((name) => [`${name} → connect engine`, CLIENTS[name] as ClientFactory])),
} as const;
