// tokenpool/client in browsers (package.json's "browser" and "default" conditions): Connect and
// gRPC-Web over fetch; protocol "grpc" throws UnsupportedProtocolError. Same surface as node.ts.

import { createTokenPoolClientOn, type TokenPoolClient, type TokenPoolClientOptions } from "./client.js";
import { browserPlatform } from "./transport-browser.js";

export * from "./surface.js";

export function createTokenPoolClient(options: TokenPoolClientOptions): TokenPoolClient {
  return createTokenPoolClientOn(browserPlatform, options);
}
