// CORS for browsers on other origins (--cors-origin): answers the preflight of an RPC from an allowed
// origin and marks every response to it readable, with connect-es's lists of the headers its
// protocols need plus tokenpool's own. An origin not on the list gets what it would without CORS.

import { cors } from "@connectrpc/connect";
import type { HttpHandler } from "./handler.js";

/** Request headers a browser client may send: the protocols' own, the password, a request id. */
export const CORS_ALLOWED_HEADERS = [...cors.allowedHeaders, "x-api-password", "authorization", "x-request-id"];
/** Response headers its scripts may read: gRPC-Web's status and details, the request id. */
export const CORS_EXPOSED_HEADERS = [...cors.exposedHeaders, "x-request-id"];
/** How long a browser may reuse a preflight answer (Chromium caps it at 2 h). */
const MAX_AGE_SECONDS = 7200;

/** `origins`: exact origins ("https://app.example.com") or "*" for any. */
export function withCors(origins: readonly string[], next: HttpHandler): HttpHandler {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const allowMethods = cors.allowedMethods.join(", ");
  const allowHeaders = CORS_ALLOWED_HEADERS.join(", ");
  const exposeHeaders = CORS_EXPOSED_HEADERS.join(", ");
  return (req, res) => {
    const origin = req.headers.origin;
    // Whatever the origin, the answer depends on it: caches must not hand one origin's to another.
    res.setHeader("vary", "Origin");
    if (typeof origin !== "string" || !(any || allowed.has(origin))) return next(req, res);
    // The origin itself even when any is allowed: one rule, and the answer varies by Origin anyway.
    res.setHeader("access-control-allow-origin", origin);
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      res.writeHead(204, {
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": String(MAX_AGE_SECONDS),
        "content-length": "0",
      });
      res.end();
      return;
    }
    res.setHeader("access-control-expose-headers", exposeHeaders);
    return next(req, res);
  };
}
