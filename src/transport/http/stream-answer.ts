// Answers an HTTP/2 stream from its headers alone (no request object, no body read) and drains the
// rest of its request unparsed, as the request-level gates do (Node's compat layer and grpc-js both
// read a rejected upload to its end and drop it).

import type http2 from "node:http2";

export interface StreamAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer | undefined;
  /** Sent after the body; undefined: the headers (or the body) end the stream. */
  readonly trailers: Readonly<Record<string, string>> | undefined;
}

export function answerStream(stream: http2.ServerHttp2Stream, answer: StreamAnswer): void {
  const headers: http2.OutgoingHttpHeaders = { ":status": answer.status, ...answer.headers };
  const { body, trailers } = answer;
  if (trailers !== undefined) {
    stream.respond(headers, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    if (body === undefined) stream.end();
    else stream.end(body);
  } else if (body === undefined) {
    stream.respond(headers, { endStream: true });
  } else {
    stream.respond(headers);
    stream.end(body);
  }
  // No RST_STREAM to stop the upload, though the rest is not wanted: a reset submitted before the
  // answer has left nghttp2 discards it (and Node's 'finish' comes first), and the DATA a client still
  // has in flight then lands on a closed stream, which Node counts against maxSessionInvalidFrames: a
  // few rejected 2 MB uploads ended the whole session. What arrives is read and dropped: data a
  // stream keeps unread never gives its flow-control credit back to the connection, whose other
  // streams would then starve.
  if (!stream.endAfterHeaders) stream.resume();
}
