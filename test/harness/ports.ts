// Free TCP ports on 127.0.0.1, for servers that cannot listen on port 0 and report what they got
// (redis-server, Flask, the bench's baselines).

import { createServer } from "node:net";

/** A port nobody listens on right now (it can be taken by someone else before the caller binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
