// Operator routes: liveness, readiness and the Prometheus scrape endpoint. Health is always open (probes
// carry no credentials); /metrics is open too unless METRICS_TOKEN asks for a bearer token.

import { PasswordCheck } from "../transport/auth.js";
import type { HttpRoute } from "../transport/http/fallback.js";
import { sendJson } from "../transport/http/fallback.js";
import type { Metrics } from "./metrics.js";

export interface Readiness {
  /** Undefined when ready; otherwise why not (store unreachable, recovering, shutting down). */
  notReadyReason(): string | undefined;
}

export interface OpsOptions {
  /** When set, /metrics wants `Authorization: Bearer <token>`; the API password is not accepted. */
  readonly metricsToken?: string | undefined;
  readonly onAuthFailure?: () => void;
}

export function opsRoutes(readiness: Readiness, metrics: Metrics, options: OpsOptions = {}): HttpRoute[] {
  // Compared in constant time, like the API password (transport/auth.ts).
  const token = options.metricsToken ? new PasswordCheck(options.metricsToken) : undefined;
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
      handle: async (req, res) => {
        if (token && !token.matches(bearer(req.headers.authorization))) {
          options.onAuthFailure?.();
          sendJson(res, 401, { error: "metrics need Authorization: Bearer <METRICS_TOKEN>" }, { "www-authenticate": 'Bearer realm="metrics"' });
          return;
        }
        const body = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(body);
      },
    },
  ];
}

function bearer(header: string | undefined): string | undefined {
  return header ? /^Bearer\s+(.+)$/i.exec(header)?.[1] : undefined;
}
