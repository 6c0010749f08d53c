// Shared-secret authentication for every protocol: X-API-PASSWORD or Authorization: Bearer,
// compared in constant time (both sides hashed first so lengths leak nothing either).

import { createHash, timingSafeEqual } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";
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

/** Rejects calls to the protected services with UNAUTHENTICATED before any handler runs. */
export function authInterceptor(check: PasswordCheck, protectedServices: ReadonlySet<string>, onReject?: () => void): Interceptor {
  return (next) => async (req) => {
    if (protectedServices.has(req.service.typeName) && !check.matchesHeaders((n) => req.header.get(n))) {
      onReject?.();
      throw toConnectError({ code: "UNAUTHENTICATED" });
    }
    return next(req);
  };
}
