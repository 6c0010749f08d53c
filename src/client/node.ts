// tokenpool/client in Node (package.json's "node" condition): Connect, gRPC-Web and gRPC over
// connect-node. The public surface is surface.ts; docs/CLIENTS.md describes it.

import { createTokenPoolClientOn, type TokenPoolClient, type TokenPoolClientOptions } from "./client.js";
import { nodePlatform } from "./transport-node.js";

export * from "./surface.js";

export function createTokenPoolClient(options: TokenPoolClientOptions): TokenPoolClient {
  return createTokenPoolClientOn(nodePlatform, options);
}
