// An HTTP/1.1 peer's FIN means either "my request is all sent, I am waiting" (a half-close) or "I am
// gone" (a client that gave up closes its socket): TCP shows both the same. The answer to a half-closed
// client must still be sent; a gone client's waiting call must end, not take a token nobody receives.

import type http from "node:http";
import type net from "node:net";

/**
 * When the probes are written after the FIN. A closed peer answers the first with a reset, which only
 * a later write can see (the socket no longer reads): the second finds it one local round trip later,
 * the third covers slower paths. Few enough for clients that cap interim responses (Go: 5).
 */
const PROBE_AT_MS = [0, 200, 1_000] as const;

/**
 * On the peer's FIN while a response is pending, writes `100 Continue` interim responses (which every
 * HTTP/1.1 client must accept and skip, RFC 9110 §15.2): a half-closed peer reads past them to the
 * answer; for a closed one the write fails, which aborts its request as the FIN used to. A response
 * already streaming (headers out, not ended) is cut instead: interim responses can no longer be sent.
 */
export function probeOnHalfClose(socket: net.Socket, pending: () => http.ServerResponse | undefined): void {
  socket.once("end", () => {
    const res = pending();
    if (res === undefined || res.writableEnded) return; // nothing waiting, or an answer on its way out
    if (res.headersSent) {
      socket.destroy();
      return;
    }
    const timers = PROBE_AT_MS.map((ms) =>
      setTimeout(() => {
        if (!res.headersSent && !socket.destroyed) res.writeContinue();
      }, ms),
    );
    res.once("close", () => timers.forEach(clearTimeout));
  });
}
