// Puts a check in front of an HTTP/2 server's 'stream' listeners (Node's compat layer, which builds an
// Http2ServerRequest/Response per stream, or grpc-js's call setup): a stream the check answers never
// reaches them, and so costs none of their per-call objects; every other one is handed on unchanged.

import type http2 from "node:http2";

/** True when the check answered the stream itself (the server's own listeners then never see it). */
export type StreamCheck = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

type StreamListener = (this: http2.Http2Server, ...args: unknown[]) => void;

/**
 * Replaces the server's current 'stream' listeners with one that runs `check` first. Listeners added
 * later are not behind the check: install it once the server's own are in place.
 */
export function interceptStreams(server: http2.Http2Server, check: StreamCheck): void {
  const listeners = server.listeners("stream") as StreamListener[];
  server.removeAllListeners("stream");
  server.on("stream", function (this: http2.Http2Server, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) {
    if (check(stream, headers)) {
      // The listeners skipped are the ones that would have handled its errors (a client resetting it
      // mid-upload with an error code, say): unheard, such an error would end the process.
      stream.on("error", ignore);
      return;
    }
    for (const listener of listeners) listener.call(this, stream, headers, ...rest);
  });
}

function ignore(): void {}
