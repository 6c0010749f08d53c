// The auth gate at the HTTP/2 stream level, for connect-node's server: an RPC without valid
// credentials is judged from the stream's headers and answered there, before Node's compat layer
// builds a request and a response for it (most of what such a call cost), with the same bytes,
// metrics and log as the request-level gate (auth-gate.ts), which still sees everything else.

import type http2 from "node:http2";
import { AuthRejections, type AuthGateOptions } from "./auth-rejection.js";
import { authorityProblem, targetProblem } from "./request-head.js";
import { answerStream } from "./stream-answer.js";

export interface StreamAuthGateOptions {
  readonly auth: AuthGateOptions;
  /**
   * CORS is on (withCors wraps the request-level chain): a request naming an Origin is left to that
   * chain, which decides its CORS headers; every other answer gets the Vary: Origin withCors adds.
   */
  readonly cors: boolean;
}

/** How to answer the stream (run once the caller sees fit), or undefined: it goes to the server as usual. */
export type StreamAuthGate = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => (() => void) | undefined;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

export function streamAuthGate(options: StreamAuthGateOptions): StreamAuthGate {
  const rejections = new AuthRejections(options.auth);
  const vary: Record<string, string> = options.cors ? { vary: "Origin" } : {};
  return (stream, headers) => {
    const url = headers[":path"];
    if (url === undefined) return undefined;
    if (options.cors && headers.origin !== undefined) return undefined;
    const get = (n: string): string | undefined => first(headers[n]);
    const rejection = rejections.judge(headers[":method"], url, get("content-type"), get);
    if (rejection === undefined) return undefined;
    // A head the server answers 400 is answered that way first, as on the request-level path.
    const authority = headers[":authority"] ?? headers.host;
    if (authority !== undefined && authority !== "" && authorityProblem(authority, true) !== undefined) return undefined;
    if (targetProblem(url, authority || "localhost") !== undefined) return undefined;
    return () => {
      const started = performance.now();
      const requestId = rejections.requestId(get);
      const answer = rejections.answer(rejection, requestId, false);
      answerStream(stream, { ...answer, headers: { ...vary, ...answer.headers } });
      rejections.report(rejection, get, stream.session?.socket?.remoteAddress, requestId, started, "stream");
    };
  };
}
