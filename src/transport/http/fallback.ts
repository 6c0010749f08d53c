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

/** gRPC and gRPC-Web content types (as connect-es matches them; grpc-web-text is not served). */
const GRPC_CONTENT_TYPE = /^application\/grpc(?:-web)?(?:\+(?:json(?:; ?charset=utf-?8)?|proto))?$/i;

/**
 * A gRPC client calling a method this server does not have must get grpc-status UNIMPLEMENTED
 * (a trailers-only response), not an HTTP 404 it can only guess at.
 */
function sendGrpcUnimplemented(res: HttpResponse, contentType: string, path: string): void {
  res.writeHead(200, {
    "content-type": contentType,
    "grpc-status": "12",
    "grpc-message": encodeURIComponent(`unknown method ${path}`),
    "content-length": "0",
  });
  res.end();
}

/** `onError` gets the response too: what the route already set on it (a request id) belongs in the log. */
export function fallbackRouter(routes: readonly HttpRoute[], onError: (e: unknown, res: HttpResponse) => void): HttpHandler {
  const table = new Map<string, HttpRoute>();
  for (const r of routes) table.set(`${r.method} ${r.path}`, r);
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    const route = table.get(`${method} ${url.pathname}`);
    if (!route) {
      if (req.method === "POST" && GRPC_CONTENT_TYPE.test(req.headers["content-type"] ?? "")) {
        sendGrpcUnimplemented(res, req.headers["content-type"] ?? "", url.pathname);
        return;
      }
      const allowed = routes.some((r) => r.path === url.pathname);
      sendJson(res, allowed ? 405 : 404, { error: allowed ? "method not allowed" : "not found" });
      return;
    }
    Promise.resolve()
      .then(() => route.handle(req, res, url))
      .catch((e: unknown) => {
        onError(e, res);
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.end();
      });
  };
}
