// Resets the HTTP/2 stream under a grpc-js call: a RST_STREAM is not flow-controlled, so it reaches a
// client that stopped reading when no status can (trailers queue behind the data it does not read).
// grpc-js has no public way to do this; the stream is one private field away (`call.call.stream`:
// ServerWritableStreamImpl → BaseServerInterceptingCall, no interceptors configured), pinned with
// grpc-js 1.14.7 and held by test/service/slow-watcher.test.ts. Without it the call falls back to
// the write-stall cut (the slot is freed, the stream waits for its session to end).

import http2 from "node:http2";

interface Resettable {
  readonly destroyed: boolean;
  readonly closed: boolean;
  close(code: number): void;
}

function streamOf(call: unknown): Resettable | undefined {
  const inner = typeof call === "object" && call !== null && "call" in call ? (call as { call: unknown }).call : undefined;
  const stream = typeof inner === "object" && inner !== null && "stream" in inner ? (inner as { stream: unknown }).stream : undefined;
  if (typeof stream !== "object" || stream === null) return undefined;
  const s = stream as Partial<Resettable>;
  return typeof s.close === "function" && typeof s.destroyed === "boolean" && typeof s.closed === "boolean" ? (s as Resettable) : undefined;
}

/** RST_STREAM with `code` (ENHANCE_YOUR_CALM reads as RESOURCE_EXHAUSTED, CANCEL as CANCELLED); false if unreachable. */
export function resetStream(call: unknown, code: number = http2.constants.NGHTTP2_ENHANCE_YOUR_CALM): boolean {
  const stream = streamOf(call);
  if (stream === undefined) return false;
  if (!stream.destroyed && !stream.closed) stream.close(code);
  return true;
}
