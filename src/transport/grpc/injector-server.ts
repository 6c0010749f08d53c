// The HTTP/2 server behind a grpc-js connection injector: grpc-js keeps it in a private field
// (`http2Servers`, pinned with grpc-js 1.14.7; test/transport/grpc-split.test.ts and
// test/hardening/stream-auth-gate.test.ts fail if it moves). Reaching it lets tokenpool act on a
// stream before grpc-js does (deadline-clamp.ts, stream-auth-gate.ts).

import type http2 from "node:http2";
import type * as grpc from "@grpc/grpc-js";

/** The HTTP/2 server the injector just created (the newest one), or undefined when grpc-js's internals moved. */
export function injectorHttp2Server(server: grpc.Server): http2.Http2Server | undefined {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return undefined;
  const h2 = [...(servers as Map<unknown, unknown>).keys()].at(-1) as http2.Http2Server | undefined;
  if (h2 === undefined || typeof h2.prependListener !== "function" || typeof h2.listeners !== "function") return undefined;
  return h2;
}
