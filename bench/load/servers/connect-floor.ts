// The Connect floor: the same generated TokenService on connect-node and the same one-port listener
// as tokenpool, with handlers that return empty responses, so the framework's per-call cost shows alone.

import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ConnectRouter } from "@connectrpc/connect";
import { TokenService } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import { OnePortServer } from "../../../src/transport/http/one-port.js";
import { defaultConnectionLimits } from "../../../src/config/limits.js";
import { announce, listenOptions } from "./listen.js";

function routes(router: ConnectRouter): void {
  router.service(TokenService, {
    createPool: () => ({}),
    getPool: () => ({}),
    listPools: () => ({}),
    deletePool: () => ({}),
    generateTokens: () => ({}),
    assignToken: () => ({}),
    keepAlive: () => ({}),
    releaseToken: () => ({}),
    deleteToken: () => ({}),
    getToken: () => ({}),
    async *watchLeases() {},
  });
}

const { host, port } = listenOptions();
// The limits tokenpool's server uses, so only the handlers differ.
const server = new OnePortServer({
  handler: connectNodeAdapter({ routes, readMaxBytes: 4 * 1024 * 1024 }),
  ...defaultConnectionLimits,
  onError: (e) => console.error(e),
});
announce(await server.listen(port, host));
process.on("SIGTERM", () => void server.close(1000).then(() => process.exit(0)));
