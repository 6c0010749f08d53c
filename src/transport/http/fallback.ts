// Plain HTTP routes served beside the RPCs (connect-node's `fallback`): legacy API, docs, health.
// Each feature contributes a route table; unknown paths get a JSON 404.

import type { HttpHandler, HttpRequest, HttpResponse } from "./handler.js";

export interface HttpRoute {
  readonly method: "GET" | "POST" | "HEAD";
  /** Exact path, matched without the query string. */
  readonly path: string;
  readonly handle: (req: HttpRequest, res: HttpResponse, url: URL) => void | Promise<void>;
}

export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function fallbackRouter(routes: readonly HttpRoute[], onError: (e: unknown) => void): HttpHandler {
  const table = new Map<string, HttpRoute>();
  for (const r of routes) table.set(`${r.method} ${r.path}`, r);
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    const route = table.get(`${method} ${url.pathname}`);
    if (!route) {
      const allowed = routes.some((r) => r.path === url.pathname);
      sendJson(res, allowed ? 405 : 404, { error: allowed ? "method not allowed" : "not found" });
      return;
    }
    Promise.resolve()
      .then(() => route.handle(req, res, url))
      .catch((e: unknown) => {
        onError(e);
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.end();
      });
  };
}
