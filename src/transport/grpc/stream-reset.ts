// Resets the HTTP/2 stream under a grpc-js call: a RST_STREAM is not flow-controlled, so it reaches a
// client that stopped reading when no status can (trailers queue behind the data it does not read).
// grpc-js has no public way to do this; the stream is a few private fields away (`call.call`, then
// each interceptor's `nextCall` down to BaseServerInterceptingCall's `stream`), pinned with grpc-js
// 1.14.7 and held by test/service/slow-watcher.test.ts. Without it the call falls back to the
// write-stall cut (the slot is freed, the stream waits for its session to end).

import http2 from "node:http2";

interface Resettable {
  readonly destroyed: boolean;
  readonly closed: boolean;
  close(code: number): void;
}

const field = (o: unknown, name: string): unknown => (typeof o === "object" && o !== null && name in o ? (o as Record<string, unknown>)[name] : undefined);

function streamOf(call: unknown): Resettable | undefined {
  let inner = field(call, "call");
  // Through the interceptors (the auth gate) to the base call.
  for (let i = 0; i < 8 && field(inner, "nextCall") !== undefined; i++) inner = field(inner, "nextCall");
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
