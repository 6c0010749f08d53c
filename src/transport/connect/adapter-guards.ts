// Guards around the connect-node request handler for two ways a client could make it misbehave.
// - Deadlines Node cannot hold: connect-es arms a timer with the call's deadline (grpc-timeout,
//   connect-timeout-ms); past 2^31-1 ms (~24.8 days) Node fires it after 1 ms with a
//   TimeoutOverflowWarning, so a far-off but valid deadline ended the call at once. Such a deadline
//   is dropped: far enough to mean none.
// - Bodies abandoned half-read on HTTP/1.1: when connect-es answers before reading the whole body
//   (an envelope over readMaxBytes) it destroys the request, the rest of the body stays unread in
//   the connection, and the next request on that keep-alive connection was never parsed: it hung.
//   Such a response now says Connection: close, so the client opens a fresh connection.

import http from "node:http";
import type { HttpHandler } from "../http/handler.js";

const MAX_TIMER_MS = 2 ** 31 - 1;
const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Milliseconds of a well-formed deadline header, or undefined (malformed ones are connect-es's to reject). */
function deadlineMs(name: "grpc-timeout" | "connect-timeout-ms", value: string): number | undefined {
  if (name === "connect-timeout-ms") return /^\d{1,10}$/.test(value) ? Number(value) : undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  return m ? Number(m[1]) * (GRPC_UNIT_MS[m[2] as string] as number) : undefined;
}

export function guardConnectHandler(handler: HttpHandler): HttpHandler {
  return (req, res) => {
    for (const name of ["grpc-timeout", "connect-timeout-ms"] as const) {
      const value = req.headers[name];
      if (typeof value !== "string") continue;
      const ms = deadlineMs(name, value);
      if (ms !== undefined && ms > MAX_TIMER_MS) delete req.headers[name];
    }
    if (req instanceof http.IncomingMessage && res instanceof http.ServerResponse) {
      const socket = req.socket;
      const abandoned = (): boolean => !req.complete && req.readableDidRead;
      // The answer to a half-read request says it closes the connection (so the client does not
      // queue its next request there). writeHead is the last moment a header can be added.
      const writeHead = res.writeHead;
      res.writeHead = function (this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
        if (abandoned()) this.setHeader("connection", "close");
        return writeHead.apply(this, args);
      } as typeof writeHead;
      // Should the body be abandoned after the headers went out, close the connection behind the answer.
      res.once("finish", () => {
        if (abandoned() && !res.hasHeader("connection")) socket.end();
      });
    }
    return handler(req, res);
  };
}
