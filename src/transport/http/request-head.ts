// Makes a request head safe for URL-based code before any handler sees it. Node's parsers accept
// authorities (Host, :authority) and request targets that `new URL()` rejects, and connect-node builds
// a URL from both synchronously, outside any promise: one `Host: a b` used to crash the process.

import http2 from "node:http2";
import type { HttpRequest } from "./handler.js";

/** Why the head cannot be served (the client gets 400 Bad Request), or undefined once it is usable. */
export function prepareRequestHead(req: HttpRequest): string | undefined {
  const h2 = req instanceof http2.Http2ServerRequest;
  const authority = h2 ? req.authority : req.headers.host;
  if (authority === undefined || authority === "") {
    // Legal without one: HTTP/1.0, HTTP/2 (`:authority` is optional) and an empty HTTP/1.1 Host. The
    // address the client reached stands in, as the authority it would have named.
    req.headers[h2 ? ":authority" : "host"] = localAuthority(req);
  } else if (!URL.canParse(`http://${authority}`)) {
    // RFC 9112 §3.2: a Host field with an invalid value gets 400.
    return `invalid ${h2 ? ":authority" : "Host"} ${JSON.stringify(authority.slice(0, 100))}`;
  }
  const target = req.url ?? "";
  const base = `http://${h2 ? req.authority : req.headers.host}`;
  if (!URL.canParse(target, base)) return `invalid request target ${JSON.stringify(target.slice(0, 100))}`;
  return undefined;
}

function localAuthority(req: HttpRequest): string {
  const { localAddress, localPort } = req.socket;
  if (localAddress === undefined) return "localhost";
  const host = localAddress.includes(":") ? `[${localAddress}]` : localAddress;
  return localPort === undefined ? host : `${host}:${localPort}`;
}
