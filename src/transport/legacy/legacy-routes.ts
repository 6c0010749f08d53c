// The old Python token service's HTTP API (/issue_token, /recycle_token, /tokens), byte for byte,
// served on the default pool. Issued tokens are real leases with the legacy TTL, so a client that
// dies without recycling gets its token back when the lease expires. They go on the pool's recycle
// queue in the store, so a recycle on any replica frees the oldest one, whichever replica issued it.

import type { Store } from "../../store/store.js";
import { presentedCredential, type AuthFailure, type PasswordCheck } from "../auth.js";
import type { HttpRoute } from "../http/fallback.js";
import type { HttpRequest, HttpResponse } from "../http/handler.js";
import { pythonJson } from "./python-json.js";

export const LEGACY_OWNER = "legacy";
const NO_INFO = "No info provided";

export interface LegacyOptions {
  readonly store: Store;
  readonly pool: string;
  readonly leaseTtlMs: number;
  readonly check: PasswordCheck;
  /** Called with the route and status of every response (metrics). */
  readonly observe?: (route: string, status: number) => void;
  readonly onAuthFailure?: (failure: Omit<AuthFailure, "protocol">) => void;
}

export function legacyRoutes(options: LegacyOptions): HttpRoute[] {
  const { store, pool, check } = options;

  const send = (route: string, res: HttpResponse, status: number, body: Record<string, string | number>): void => {
    const text = pythonJson(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
    res.end(text);
    options.observe?.(route, status);
  };
  const authorized = (route: string, req: HttpRequest, res: HttpResponse): boolean => {
    const header = req.headers["x-api-password"];
    if (check.matches(Array.isArray(header) ? header[0] : header)) return true;
    options.onAuthFailure?.({
      route,
      presented: presentedCredential((n) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      }),
      peer: req.socket.remoteAddress,
    });
    send(route, res, 401, { error: "Unauthorized" });
    return false;
  };
  /** Free tokens now; storage failures become the 503 below rather than a wrong count. */
  const available = async (): Promise<number | undefined> => {
    const stats = await store.getPool(pool);
    return stats.ok ? stats.value.available : undefined;
  };
  const unavailable = (route: string, res: HttpResponse, info: string): void =>
    send(route, res, 503, { message: "Service unavailable.", info });

  return [
    {
      method: "GET",
      path: "/issue_token",
      handle: async (req, res, url) => {
        if (!authorized("/issue_token", req, res)) return;
        const info = url.searchParams.get("info") ?? NO_INFO;
        const r = await store.assign(pool, LEGACY_OWNER, { leaseTtlMs: options.leaseTtlMs, recyclable: true });
        if (r.ok) {
          send("/issue_token", res, 200, { message: "Token issued successfully.", available_tokens: r.value.available, info });
        } else if (r.error.code === "POOL_EXHAUSTED") {
          send("/issue_token", res, 429, { message: "No tokens available.", available_tokens: 0, info });
        } else {
          unavailable("/issue_token", res, info);
        }
      },
    },
    {
      method: "GET",
      path: "/recycle_token",
      handle: async (req, res, url) => {
        if (!authorized("/recycle_token", req, res)) return;
        const info = url.searchParams.get("info") ?? NO_INFO;
        const named = url.searchParams.get("token");
        const recycled = named !== null ? await releaseNamed(store, pool, named) : await releaseOldest(store, pool);
        const count = await available();
        if (recycled === "error" || count === undefined) unavailable("/recycle_token", res, info);
        else if (recycled) send("/recycle_token", res, 200, { message: "Token recycled successfully.", available_tokens: count, info });
        else send("/recycle_token", res, 400, { message: "All tokens are already available.", available_tokens: count, info });
      },
    },
    {
      method: "GET",
      path: "/tokens",
      handle: async (req, res) => {
        if (!authorized("/tokens", req, res)) return;
        const count = await available();
        if (count === undefined) unavailable("/tokens", res, NO_INFO);
        else send("/tokens", res, 200, { available_tokens: count });
      },
    },
  ];
}

/** Releases the oldest lease issued through /issue_token that is still held. */
async function releaseOldest(store: Store, pool: string): Promise<boolean | "error"> {
  const r = await store.releaseOldestRecyclable(pool);
  if (r.ok) return r.value.released !== undefined;
  return r.error.code === "UNAVAILABLE" ? "error" : false;
}

/** Releases the named token only if a legacy client holds it. */
async function releaseNamed(store: Store, pool: string, token: string): Promise<boolean | "error"> {
  const r = await store.release(pool, token, { owner: LEGACY_OWNER });
  if (r.ok) return true;
  return r.error.code === "UNAVAILABLE" ? "error" : false;
}
