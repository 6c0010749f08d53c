// Checks the API password from the request headers before anything reads the body: a caller without
// credentials is answered UNAUTHENTICATED in its own protocol (Connect unary or streaming, Connect
// GET, gRPC, gRPC-Web), with the same bytes connect-node sends for the auth interceptor's error, and
// its body, however large or deeply nested, is never read or parsed. Other paths pass through.
// On HTTP/2 most such calls are answered earlier, from the stream (stream-auth-gate.ts); this gate
// is what answers HTTP/1.1, and anything the stream-level one let through.

import http2 from "node:http2";
import { AuthRejections, type AuthGateOptions, type RejectionAnswer } from "./auth-rejection.js";
import type { HttpHandler, HttpRequest, HttpResponse } from "./handler.js";

export type { AuthGateOptions } from "./auth-rejection.js";

function send(res: HttpResponse, answer: RejectionAnswer): void {
  res.writeHead(answer.status, answer.headers);
  if (answer.trailers !== undefined) res.addTrailers(answer.trailers);
  if (answer.body === undefined) res.end();
  else res.end(answer.body);
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** A rejected HTTP/1.1 body up to this size is received (unparsed) before the answer. */
const DISCARD_MAX_BYTES = 64 * 1024;
/** ... for at most this long. */
const DISCARD_MAX_MS = 1000;

function answerWhenReceived(req: HttpRequest, send: (closeAfter: boolean) => void): void {
  // Whatever came with the head has been parsed by the next turn.
  setImmediate(() => {
    if (req.complete) return send(false);
    const declared = req.headers["content-length"];
    if (declared !== undefined && !(Number(declared) <= DISCARD_MAX_BYTES)) return send(true);
    // Declared small, or chunked (connect-es sends unary bodies chunked): received until it ends,
    // grows past the limit, or takes too long.
    let sent = false;
    let received = 0;
    const once = (): void => {
      if (sent) return;
      sent = true;
      clearTimeout(timer);
      send(!req.complete);
    };
    const timer = setTimeout(once, DISCARD_MAX_MS);
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > DISCARD_MAX_BYTES) once();
    });
    req.once("end", once);
    req.once("close", once);
  });
}

export function authGate(options: AuthGateOptions, next: HttpHandler): HttpHandler {
  const rejections = new AuthRejections(options);
  return (req, res) => {
    const get = (n: string): string | undefined => first(req.headers[n]);
    const rejection = rejections.judge(req.method, req.url ?? "/", req.headers["content-type"], get);
    if (rejection === undefined) return next(req, res);
    const started = performance.now();
    const requestId = rejections.requestId(get);
    const h2 = req instanceof http2.Http2ServerRequest;
    if (h2) send(res, rejections.answer(rejection, requestId, false));
    // HTTP/1.1 has no way to refuse the rest of a body but closing the connection, and a client still
    // writing when it closes may lose the answer (EPIPE, or a reset that discards it unread). So a small
    // declared body is let through unparsed and answered when it ends (the connection stays usable); a
    // large, unbounded or stalled one is answered at once and the connection ends after the answer.
    else answerWhenReceived(req, (closeAfter) => send(res, rejections.answer(rejection, requestId, closeAfter)));
    if (h2 && !req.complete) {
      // The answer is complete; the rest of the request is not wanted (RFC 9113 §8.1: RST_STREAM
      // NO_ERROR, once the answer is out). What arrives until then is dropped unparsed, but consumed:
      // data a stream closes with unread never gives its flow-control credit back to the connection,
      // whose other streams would then starve.
      req.resume();
      res.once("finish", () => {
        if (!req.stream.closed) req.stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
    }
    rejections.report(rejection, get, req.socket?.remoteAddress, requestId, started, "request");
  };
}
