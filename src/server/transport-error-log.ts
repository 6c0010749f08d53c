// Logs what the listener reports outside any request's own error handling: a handler that threw (a
// bug, answered 500) and failed accepts, which repeat for every connection while descriptors are
// short, so those get one line per interval with the count.

import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/logger.js";

export const ACCEPT_ERROR_LOG_INTERVAL_MS = 10_000;

export function transportErrorLog(log: Logger, clock: Clock): (e: unknown, what: "handler" | "accept") => void {
  let lastLogged = -Infinity;
  let unlogged = 0;
  return (e, what) => {
    if (what === "handler") {
      log.error({ err: e }, "request handler failed; answered 500");
      return;
    }
    unlogged++;
    if (clock.now() - lastLogged < ACCEPT_ERROR_LOG_INTERVAL_MS) return;
    log.error({ err: e, failures: unlogged }, "cannot accept connections");
    lastLogged = clock.now();
    unlogged = 0;
  };
}
