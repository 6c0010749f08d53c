// The answer an RPC without valid credentials gets on connect-node's side, judged from its head alone
// (method, path, content type, credential headers) and serialised once per protocol: shared by the
// request-level gate (auth-gate.ts) and the HTTP/2 stream-level one (stream-auth-gate.ts), so both
// send the same bytes, count the same metrics and log the same failure.

import type { DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { codeToHttpStatus, contentTypeStreamRegExp, contentTypeUnaryRegExp, endStreamFlag, endStreamToJson, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { contentTypeRegExp as grpcContentType, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { contentTypeRegExp as grpcWebContentType, trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { HeaderGetter } from "../../service/auth.js";
import { presentedCredential, type AuthFailure, type PasswordCheck } from "../auth.js";
import { toConnectError } from "../errors.js";

export interface AuthGateOptions {
  readonly check: PasswordCheck;
  /** Services whose methods need the password. */
  readonly services: readonly DescService[];
  /** The id the response carries (x-request-id), as the request log would give it. */
  readonly requestId: (presented: string | undefined) => string;
  readonly requestIdHeader: string;
  /**
   * Every rejection: for the auth failure log and the call metrics. `stage`: "stream" when it was
   * answered from the HTTP/2 stream's headers, before the server built any per-call object.
   */
  readonly onReject: (
    failure: Omit<AuthFailure, "protocol"> & { readonly method: string; readonly requestId: string; readonly seconds: number; readonly stage: "stream" | "request" },
  ) => void;
}

type Wire = "connect-unary" | "connect-stream" | "grpc" | "grpc-web";

interface Route {
  readonly method: string;
  /** Connect GET is served for side-effect-free methods only (as connect-node does). */
  readonly get: boolean;
  /** Connect has distinct content types for unary and streaming methods; the other kind is a 415. */
  readonly streaming: boolean;
}

/** A request judged unauthenticated: which method it called and in which protocol it must be told. */
export interface Rejection {
  readonly path: string;
  readonly method: string;
  readonly wire: Wire;
  readonly json: boolean;
}

/** One rejection as HTTP: what to respond, the body (if any) and the trailers (if any). */
export interface RejectionAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
  readonly trailers: Readonly<Record<string, string>> | undefined;
}

export class AuthRejections {
  private readonly routes = new Map<string, Route>();
  private readonly error = toConnectError({ code: "UNAUTHENTICATED" });
  private readonly unaryBody = Buffer.from(errorToJsonBytes(this.error, {}));
  private readonly unaryStatus = codeToHttpStatus(this.error.code);
  private readonly grpcTrailers = [...setTrailerStatus(new Headers(), this.error).entries()];

  constructor(private readonly options: AuthGateOptions) {
    for (const service of options.services) {
      for (const m of service.methods) {
        this.routes.set(`/${service.typeName}/${m.name}`, {
          method: m.name,
          get: m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
          streaming: m.methodKind !== "unary",
        });
      }
    }
  }

  /**
   * The rejection a request gets, or undefined when it goes on: not a protected method, valid
   * credentials, or a request connect-node refuses itself (415) before asking for any.
   */
  judge(method: string | undefined, url: string, contentType: string | undefined, get: HeaderGetter): Rejection | undefined {
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const route = this.routes.get(path);
    if (route === undefined) return undefined;
    if (this.options.check.matchesHeaders(get)) return undefined;
    const wire = wireOf(method, contentType ?? "", route, q < 0 ? "" : url.slice(q + 1));
    return wire === undefined ? undefined : { path, method: route.method, ...wire };
  }

  /** The request id the answer carries, from what the client presented. */
  requestId(get: HeaderGetter): string {
    return this.options.requestId(get(this.options.requestIdHeader) ?? undefined);
  }

  answer(r: Rejection, requestId: string, closeAfter: boolean): RejectionAnswer {
    const close: Record<string, string> = closeAfter ? { connection: "close" } : {};
    const idHeader = this.options.requestIdHeader;
    switch (r.wire) {
      case "connect-unary":
        return {
          status: this.unaryStatus,
          headers: { "content-type": "application/json", "content-length": String(this.unaryBody.length), [idHeader]: requestId, ...close },
          body: this.unaryBody,
          trailers: undefined,
        };
      case "connect-stream": {
        const end = Buffer.from(JSON.stringify(endStreamToJson(new Headers({ [idHeader]: requestId }), this.error, {})));
        return { status: 200, headers: { "content-type": r.json ? "application/connect+json" : "application/connect+proto", ...close }, body: frame(endStreamFlag, end), trailers: undefined };
      }
      case "grpc-web": {
        const trailer = new Headers(this.grpcTrailers);
        trailer.set(idHeader, requestId);
        return { status: 200, headers: { "content-type": r.json ? "application/grpc-web+json" : "application/grpc-web+proto", ...close }, body: frame(trailerFlag, trailerSerialize(trailer)), trailers: undefined };
      }
      case "grpc":
        return {
          status: 200,
          headers: { "content-type": r.json ? "application/grpc+json" : "application/grpc+proto", ...close },
          body: undefined,
          trailers: Object.fromEntries([...this.grpcTrailers, [idHeader, requestId]]),
        };
    }
  }

  /** Tells the failure log and the metrics; `started`: performance.now() when the rejection was decided. */
  report(r: Rejection, get: HeaderGetter, peer: string | undefined, requestId: string, started: number, stage: "stream" | "request"): void {
    this.options.onReject({
      route: r.path,
      presented: presentedCredential(get),
      peer,
      method: r.method,
      requestId,
      seconds: (performance.now() - started) / 1000,
      stage,
    });
  }
}

function frame(flag: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = flag;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** Which protocol a request to a protected method speaks; undefined: one connect-node refuses itself (415). */
function wireOf(method: string | undefined, type: string, route: Route, query: string): { wire: Wire; json: boolean } | undefined {
  if (method === "GET") {
    // A GET without a message encoding connect-node can read is refused 415 first, as before.
    const encoding = route.get ? new URLSearchParams(query).get("encoding") : null;
    return encoding === "json" || encoding === "proto" ? { wire: "connect-unary", json: true } : undefined;
  }
  if (method !== "POST") return undefined;
  if (contentTypeUnaryRegExp.test(type)) return route.streaming ? undefined : { wire: "connect-unary", json: true };
  if (contentTypeStreamRegExp.test(type)) return route.streaming ? { wire: "connect-stream", json: /json/i.test(type) } : undefined;
  if (grpcContentType.test(type)) return { wire: "grpc", json: /json/i.test(type) };
  const web = grpcWebContentType.exec(type);
  if (web && web[1] === undefined) return { wire: "grpc-web", json: /json/i.test(type) }; // grpc-web-text is not served
  return undefined;
}
