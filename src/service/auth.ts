// The auth decision, for every protocol: the shared secret in X-API-PASSWORD or Authorization: Bearer,
// compared in constant time (both sides hashed first so lengths leak nothing either).

import { hash, timingSafeEqual } from "node:crypto";

/** Reads one request header (gRPC metadata entry) by lower-case name. */
export type HeaderGetter = (name: string) => string | null | undefined;

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
  matchesHeaders(get: HeaderGetter): boolean {
    const password = get("x-api-password");
    if (password != null && password !== "") return this.matches(password);
    const auth = get("authorization");
    const bearer = auth && /^Bearer\s+(.+)$/i.exec(auth)?.[1];
    return this.matches(bearer ?? undefined);
  }
}

function sha256(s: string): Buffer {
  // The one-shot form is ~2x cheaper than a Hash object (0.8 vs 2 µs here), and runs on every call.
  return hash("sha256", s, "buffer");
}

/** Which credential form a rejected request presented; never its value. */
export type PresentedCredential = "none" | "x-api-password" | "bearer" | "other-authorization";

export function presentedCredential(get: HeaderGetter): PresentedCredential {
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
