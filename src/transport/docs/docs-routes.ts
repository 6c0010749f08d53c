// Browsable API docs, unauthenticated: the generated OpenAPI document at /openapi.json and Swagger
// UI at /docs, served from the swagger-ui-dist package (no CDN), with "Try it out" against this server.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HttpRoute } from "../http/fallback.js";

// From src/transport/docs under tsx, or from dist/src/transport/docs when compiled (`npm run start:prod`):
// the document stays in the repository's docs/, one level further up from the compiled module.
const OPENAPI = ["../../../docs/openapi.json", "../../../../docs/openapi.json"]
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((path) => existsSync(path));

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>tokenpool API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      tryItOutEnabled: false,
    });
  </script>
</body>
</html>
`;

export function docsRoutes(): HttpRoute[] {
  // Read once at start: the files do not change while the server runs.
  if (OPENAPI === undefined) throw new Error("docs/openapi.json not found beside src/ or dist/ (run npm run docs:generate)");
  const openapi = readFileSync(OPENAPI);
  const dist = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const asset = (file: string, type: string): HttpRoute => {
    const body = readFileSync(join(dist, file));
    return {
      method: "GET",
      path: `/docs/${file}`,
      handle: (_req, res) => {
        res.writeHead(200, { "content-type": type, "content-length": String(body.length), "cache-control": "public, max-age=3600" });
        res.end(body);
      },
    };
  };
  return [
    {
      method: "GET",
      path: "/openapi.json",
      handle: (_req, res) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": String(openapi.length) });
        res.end(openapi);
      },
    },
    {
      method: "GET",
      path: "/docs",
      handle: (_req, res) => {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": String(Buffer.byteLength(PAGE)) });
        res.end(PAGE);
      },
    },
    asset("swagger-ui.css", "text/css"),
    asset("swagger-ui-bundle.js", "text/javascript"),
  ];
}
