// Ends one response at once, from under a handler whose writes are blocked by a client that stopped
// reading: on HTTP/2 a RST_STREAM (not flow-controlled, so it gets through when data cannot), on
// HTTP/1.1 the connection, which carries nothing else while its response is stuck.

import type { IncomingMessage } from "node:http";
import http2 from "node:http2";
import { createContextKey } from "@connectrpc/connect";

/** Resets the call's stream with ENHANCE_YOUR_CALM, which gRPC and Connect clients read as RESOURCE_EXHAUSTED. */
export type StreamReset = () => void;

export const streamReset = createContextKey<StreamReset | undefined>(undefined, { description: "reset the call's stream" });

export function streamResetOf(req: IncomingMessage | http2.Http2ServerRequest): StreamReset {
  return () => {
    if (req instanceof http2.Http2ServerRequest) {
      if (!req.stream.destroyed) req.stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    } else {
      req.socket.destroy();
    }
  };
}
