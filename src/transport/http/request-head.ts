// Makes a request head safe for URL-based code before any handler sees it. Node's parsers accept
// authorities (Host, :authority) and request targets that `new URL()` rejects, and connect-node builds
// a URL from both synchronously, outside any promise: one `Host: a b` used to crash the process.

import http2 from "node:http2";
import type { HttpRequest } from "./handler.js";

/**
 * The last authority that parsed. Clients send the same one on every request, so this spares the
 * parse on nearly all of them (it cost ~2 % of a trivial call's CPU).
 */
let lastValidAuthority = "";

/**
 * A target of one slash and a path resolves against any valid base, so it skips the parse. Not "//host"
 * or "/\host" (a backslash counts as a slash in http URLs; both name a host), nor one holding a tab
 * or line break (the URL parser drops those first, which could make "/<tab>/host" one of them).
 */
const ORIGIN_FORM = /^\/(?![/\\])[^\t\n\r]*$/;

/** Why the head cannot be served (the client gets 400 Bad Request), or undefined once it is usable. */
export function prepareRequestHead(req: HttpRequest): string | undefined {
  const h2 = req instanceof http2.Http2ServerRequest;
  let authority = h2 ? req.authority : req.headers.host;
  if (authority === undefined || authority === "") {
    // Legal without one: HTTP/1.0, HTTP/2 (`:authority` is optional) and an empty HTTP/1.1 Host. The
    // address the client reached stands in, as the authority it would have named.
    authority = localAuthority(req);
    req.headers[h2 ? ":authority" : "host"] = authority;
  } else {
    const problem = authorityProblem(authority, h2);
    if (problem !== undefined) return problem;
  }
  return targetProblem(req.url ?? "", authority);
}

/** Why a request's (non-empty) Host or :authority gets 400, or undefined when it is usable. */
export function authorityProblem(authority: string, h2: boolean): string | undefined {
  if (authority === lastValidAuthority) return undefined;
  // RFC 9112 §3.2: a Host field with an invalid value gets 400.
  if (!URL.canParse(`http://${authority}`)) return `invalid ${h2 ? ":authority" : "Host"} ${JSON.stringify(authority.slice(0, 100))}`;
  lastValidAuthority = authority;
  return undefined;
}

/** Why a request target gets 400 (against a usable authority), or undefined when it is usable. */
export function targetProblem(target: string, authority: string): string | undefined {
  if (!ORIGIN_FORM.test(target) && !URL.canParse(target, `http://${authority}`)) return `invalid request target ${JSON.stringify(target.slice(0, 100))}`;
  return undefined;
}

function localAuthority(req: HttpRequest): string {
  const { localAddress, localPort } = req.socket;
  if (localAddress === undefined) return "localhost";
  const host = localAddress.includes(":") ? `[${localAddress}]` : localAddress;
  return localPort === undefined ? host : `${host}:${localPort}`;
}
