// The transport side of authentication: the client-address context key for Connect calls and the
// rejected-credential log. The decision itself (PasswordCheck) is the service's, re-exported here for
// the plain HTTP routes.

import { createContextKey } from "@connectrpc/connect";
import type { Logger } from "../runtime/logger.js";
import type { AuthFailure } from "../service/auth.js";

export { PasswordCheck, presentedCredential, type AuthFailure, type PresentedCredential } from "../service/auth.js";

/** The client address of a Connect call, set by the adapter's contextValues (see server.ts). */
export const peerAddress = createContextKey<string | undefined>(undefined, { description: "client address" });

/**
 * Counts every rejected request and logs them without the presented secret: the first of a burst
 * in full, then one summary line per interval while failures keep coming, so a password-guessing
 * client is visible in the log without flooding it.
 */
export class AuthFailureLog {
  private window: { suppressed: number; readonly byProtocol: Record<string, number>; readonly peers: Set<string>; readonly timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly log: Pick<Logger, "warn">,
    private readonly count: (protocol: AuthFailure["protocol"]) => void,
    private readonly intervalMs = 10_000,
  ) {}

  record(f: AuthFailure): void {
    this.count(f.protocol);
    if (this.window === undefined) {
      this.log.warn({ auth: { protocol: f.protocol, route: f.route, presented: f.presented, peer: f.peer } }, "authentication failed");
      const timer = setTimeout(() => this.flush(), this.intervalMs);
      timer.unref();
      this.window = { suppressed: 0, byProtocol: {}, peers: new Set(), timer };
      return;
    }
    const w = this.window;
    w.suppressed++;
    w.byProtocol[f.protocol] = (w.byProtocol[f.protocol] ?? 0) + 1;
    if (f.peer !== undefined && w.peers.size < 10) w.peers.add(f.peer);
  }

  /** Logs the summary of the current burst, if any, and starts a new one. */
  flush(): void {
    const w = this.window;
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.window = undefined;
    if (w.suppressed > 0) {
      this.log.warn({ auth: { failures: w.suppressed, byProtocol: w.byProtocol, peers: [...w.peers], windowMs: this.intervalMs } }, "more authentication failures");
    }
  }
}
