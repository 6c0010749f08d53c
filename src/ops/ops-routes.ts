// Unauthenticated operator routes: liveness, readiness and the Prometheus scrape endpoint.

import type { HttpRoute } from "../transport/http/fallback.js";
import { sendJson } from "../transport/http/fallback.js";
import type { Metrics } from "./metrics.js";

export interface Readiness {
  /** Undefined when ready; otherwise why not (store unreachable, recovering, shutting down). */
  notReadyReason(): string | undefined;
}

export function opsRoutes(readiness: Readiness, metrics: Metrics): HttpRoute[] {
  return [
    { method: "GET", path: "/healthz", handle: (_req, res) => sendJson(res, 200, { status: "ok" }) },
    {
      method: "GET",
      path: "/readyz",
      handle: (_req, res) => {
        const reason = readiness.notReadyReason();
        sendJson(res, reason ? 503 : 200, reason ? { status: "not ready", reason } : { status: "ready" });
      },
    },
    {
      method: "GET",
      path: "/metrics",
      handle: async (_req, res) => {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(body);
      },
    },
  ];
}
