// The old Python token service's HTTP API (/issue_token, /recycle_token, /tokens), byte for byte,
// served on the default pool: a thin adapter over the legacy operations of the service layer
// (service/legacy-service.ts), which hold the rules; here only the old statuses and bodies.

import type { Result } from "../../core/types.js";
import type { CallContext } from "../../service/call.js";
import type { LegacyServiceApi } from "../../service/legacy-service.js";
import type { ServiceError } from "../../service/service-error.js";
import type { HttpRoute } from "../http/fallback.js";
import type { HttpRequest, HttpResponse } from "../http/handler.js";
import { pythonJson } from "./python-json.js";

const NO_INFO = "No info provided";

export interface LegacyOptions {
  readonly service: LegacyServiceApi;
  /** Called with the route and status of every response (metrics). */
  readonly observe?: (route: string, status: number) => void;
}

/** The service's view of a plain HTTP request; legacy calls never wait, so the signal never fires. */
function callOf(req: HttpRequest): CallContext {
  return {
    signal: NEVER,
    header: (n) => {
      const v = req.headers[n];
      return Array.isArray(v) ? v[0] : v;
    },
    peer: req.socket.remoteAddress,
  };
}

const NEVER = new AbortController().signal;

export function legacyRoutes(options: LegacyOptions): HttpRoute[] {
  const { service } = options;

  const send = (route: string, res: HttpResponse, status: number, body: Record<string, string | number>): void => {
    const text = pythonJson(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
    res.end(text);
    options.observe?.(route, status);
  };
  /** The old service's answers to a failure: 401 for credentials, 503 for everything storage-side. */
  const fail = (route: string, res: HttpResponse, r: Result<unknown, ServiceError> & { ok: false }, info: string): void => {
    if (r.error.code === "UNAUTHENTICATED") send(route, res, 401, { error: "Unauthorized" });
    else send(route, res, 503, { message: "Service unavailable.", info });
  };

  return [
    {
      method: "GET",
      path: "/issue_token",
      handle: async (req, res, url) => {
        const r = await service.issue(callOf(req));
        const info = url.searchParams.get("info") ?? NO_INFO;
        if (r.ok) send("/issue_token", res, 200, { message: "Token issued successfully.", available_tokens: r.value.available, info });
        // An owner quota on the default pool caps legacy clients too; the old API has one answer for "none for you".
        else if (r.error.code === "POOL_EXHAUSTED" || r.error.code === "OWNER_QUOTA_EXCEEDED") {
          send("/issue_token", res, 429, { message: "No tokens available.", available_tokens: 0, info });
        }
        else fail("/issue_token", res, r, info);
      },
    },
    {
      method: "GET",
      path: "/recycle_token",
      handle: async (req, res, url) => {
        const r = await service.recycle(url.searchParams.get("token") ?? undefined, callOf(req));
        const info = url.searchParams.get("info") ?? NO_INFO;
        if (!r.ok) fail("/recycle_token", res, r, info);
        else if (r.value.recycled) send("/recycle_token", res, 200, { message: "Token recycled successfully.", available_tokens: r.value.available, info });
        else send("/recycle_token", res, 400, { message: "All tokens are already available.", available_tokens: r.value.available, info });
      },
    },
    {
      method: "GET",
      path: "/tokens",
      handle: async (req, res) => {
        const r = await service.available(callOf(req));
        if (r.ok) send("/tokens", res, 200, { available_tokens: r.value });
        else fail("/tokens", res, r, NO_INFO);
      },
    },
  ];
}
