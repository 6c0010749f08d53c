// Shared-secret authentication for every protocol: X-API-PASSWORD or Authorization: Bearer,
// compared in constant time (both sides hashed first so lengths leak nothing either).

import { createHash, timingSafeEqual } from "node:crypto";
import { createContextKey, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "../runtime/logger.js";
import { toConnectError } from "./errors.js";

export class PasswordCheck {
  private readonly digest: Buffer;

  constructor(password: string) {
    this.digest = sha256(password);
  }

  /** True when the presented credential matches; undefined (absent) never does. */
  matches(presented: string | undefined): boolean {
    if (presented === undefined || presented === "") return false;
    return timingSafeEqual(sha256(presented), this.digest);
  }

  /** Accepts either header form; the password header wins when both are sent. */
  matchesHeaders(get: (name: string) => string | null | undefined): boolean {
    const password = get("x-api-password");
    if (password != null && password !== "") return this.matches(password);
    const auth = get("authorization");
    const bearer = auth && /^Bearer\s+(.+)$/i.exec(auth)?.[1];
    return this.matches(bearer ?? undefined);
  }
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** Which credential form a rejected request presented; never its value. */
export type PresentedCredential = "none" | "x-api-password" | "bearer" | "other-authorization";

export function presentedCredential(get: (name: string) => string | null | undefined): PresentedCredential {
  const password = get("x-api-password");
  if (password != null && password !== "") return "x-api-password";
  const auth = get("authorization");
  if (auth == null || auth === "") return "none";
  return /^Bearer\s/i.test(auth) ? "bearer" : "other-authorization";
}

/** One rejected request, as logged: where it came from and what it tried, without the secret. */
export interface AuthFailure {
  readonly protocol: "rpc" | "legacy" | "metrics";
  /** RPC path or HTTP route. */
  readonly route: string;
  readonly presented: PresentedCredential;
  readonly peer: string | undefined;
}

/** The client address of a Connect call, set by the adapter's contextValues (see server.ts). */
export const peerAddress = createContextKey<string | undefined>(undefined, { description: "client address" });

/** Rejects calls to the protected services with UNAUTHENTICATED before any handler runs. */
export function authInterceptor(
  check: PasswordCheck,
  protectedServices: ReadonlySet<string>,
  onReject?: (failure: Omit<AuthFailure, "protocol">) => void,
): Interceptor {
  return (next) => async (req) => {
    const get = (n: string): string | null => req.header.get(n);
    if (protectedServices.has(req.service.typeName) && !check.matchesHeaders(get)) {
      onReject?.({ route: `/${req.service.typeName}/${req.method.name}`, presented: presentedCredential(get), peer: req.contextValues.get(peerAddress) });
      throw toConnectError({ code: "UNAUTHENTICATED" });
    }
    return next(req);
  };
}

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
