// Raw request senders for the fuzzer: HTTP/1.1 over plain TCP sockets (so malformed request lines,
// odd header bytes and truncated bodies reach the server as written) and HTTP/2 over node:http2.

import http2 from "node:http2";
import net from "node:net";

export type Transport = "h1" | "h2";

export interface WireRequest {
  readonly transport: Transport;
  readonly method: string;
  /** Path with query string, sent as is (h1: must not contain CR/LF unless that is the point). */
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
  /** h1 only: these bytes replace the whole request (malformed request lines and framing). */
  readonly raw?: Uint8Array;
  /** h1 only: after the headers and this many body bytes, half-close the socket (an aborted upload). */
  readonly truncateBodyAt?: number;
  /**
   * Send on a connection of its own: a request the server may answer by closing the connection
   * (HTTP/2 sessions are torn down after too many refused streams) must not take others with it.
   */
  readonly isolate?: boolean;
}

export interface WireResponse {
  readonly kind: "response";
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  readonly trailers: ReadonlyMap<string, string>;
}

/** What came back: a complete response, or how the exchange failed. */
export type WireResult =
  | WireResponse
  /** Headers (and maybe some body) arrived but the response did not end in time: an open stream. */
  | { readonly kind: "open"; readonly status: number; readonly headers: ReadonlyMap<string, string>; readonly body: Buffer }
  /** The server closed the connection or reset the stream before a complete response. */
  | { readonly kind: "closed"; readonly detail: string; readonly partial: boolean }
  /** Nothing at all arrived in time (`reusedAfter`: the previous request on this keep-alive connection). */
  | { readonly kind: "timeout"; readonly reusedAfter?: string }
  /** Our own client library refused the request (h2 header validation); nothing was sent. */
  | { readonly kind: "unsent"; readonly detail: string };

export interface Sender {
  send(req: WireRequest, timeoutMs: number): Promise<WireResult>;
  close(): void;
}

/** A sender for both transports against one base URL (http://host:port). */
export function createSender(baseUrl: string, options: { readonly h2Sessions?: number } = {}): Sender {
  const url = new URL(baseUrl);
  const host = url.hostname;
  const port = Number(url.port);
  const h1 = new H1Pool(host, port);
  const h2 = new H2Pool(baseUrl, options.h2Sessions ?? 2);
  return {
    send: (req, timeoutMs) => (req.transport === "h1" ? h1.send(req, timeoutMs) : h2.send(req, timeoutMs)),
    close: () => {
      h1.close();
      h2.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over raw sockets, with keep-alive reuse so framing bugs between requests show up too.

class H1Pool {
  private readonly idle: net.Socket[] = [];
  private readonly all = new Set<net.Socket>();
  private readonly lastRequest = new WeakMap<net.Socket, string>();
  /** Sockets the server has ended (FIN seen): never sent on again. */
  private readonly ended = new WeakSet<net.Socket>();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async send(req: WireRequest, timeoutMs: number): Promise<WireResult> {
    // Malformed and truncated requests get a connection of their own: they may poison it.
    const reusable = req.raw === undefined && req.truncateBodyAt === undefined && !req.isolate;
    let socket: net.Socket | undefined;
    while (reusable && !socket && this.idle.length > 0) {
      const s = this.idle.pop() as net.Socket;
      if (this.usable(s)) socket = s;
    }
    const previous = socket ? this.lastRequest.get(socket) : undefined;
    socket ??= this.connect();
    const ct = req.headers.find(([n]) => n.toLowerCase() === "content-type")?.[1] ?? "";
    this.lastRequest.set(socket, `${req.method} ${req.path.slice(0, 100)} ${ct} (${req.body.length} B body: ${Buffer.from(req.body).subarray(0, 24).toString("hex")})`);
    const result = await exchange(socket, req, timeoutMs);
    if (reusable && result.reusable && this.usable(socket)) {
      // A server that closes behind its answer (no Connection: close, then FIN) is only seen to have
      // done so once the FIN is read, which may come in the same read as the answer's last bytes:
      // park the socket until then, so the next request cannot be written into a closing connection.
      const s = socket;
      setImmediate(() => {
        if (this.usable(s) && this.idle.length < 32) this.idle.push(s);
        else s.destroy();
      });
    } else socket.destroy();
    if (result.value.kind === "timeout" && previous !== undefined) return { kind: "timeout", reusedAfter: previous };
    return result.value;
  }

  private usable(s: net.Socket): boolean {
    return !this.ended.has(s) && !s.destroyed && !s.readableEnded && s.readyState === "open";
  }

  close(): void {
    for (const s of this.all) s.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  private connect(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    this.all.add(socket);
    const forget = (): void => {
      const i = this.idle.indexOf(socket);
      if (i >= 0) this.idle.splice(i, 1);
    };
    socket.once("end", () => {
      this.ended.add(socket);
      forget();
    });
    socket.once("close", () => {
      this.all.delete(socket);
      forget();
    });
    // Errors surface through exchange(); this keeps an idle socket's late RST from being unhandled.
    socket.on("error", () => undefined);
    return socket;
  }
}

function serializeH1(req: WireRequest): Buffer {
  if (req.raw) return Buffer.from(req.raw);
  const lines = [`${req.method} ${req.path} HTTP/1.1`];
  const names = new Set(req.headers.map(([n]) => n.toLowerCase()));
  if (!names.has("host")) lines.push("host: fuzz.local");
  for (const [n, v] of req.headers) lines.push(`${n}: ${v}`);
  if (!names.has("content-length") && !names.has("transfer-encoding") && (req.body.length > 0 || req.method === "POST")) {
    lines.push(`content-length: ${req.body.length}`);
  }
  const head = Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
  const body = req.truncateBodyAt !== undefined ? req.body.subarray(0, req.truncateBodyAt) : req.body;
  return Buffer.concat([head, body]);
}

async function exchange(socket: net.Socket, req: WireRequest, timeoutMs: number): Promise<{ value: WireResult; reusable: boolean }> {
  return new Promise((resolve) => {
    const parser = new H1ResponseParser(req.method === "HEAD");
    let settled = false;
    const finish = (value: WireResult, reusable: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("error", onError);
      socket.off("end", onEnd);
      resolve({ value, reusable });
    };
    const onData = (chunk: Buffer): void => {
      const done = parser.push(chunk);
      if (done === "error") finish({ kind: "closed", detail: `unparseable response: ${parser.error}`, partial: true }, false);
      else if (done) {
        const r = parser.response();
        // Connection is a token list ("keep-alive, close"): any "close" ends the connection after this response.
        const closes = (r.headers.get("connection") ?? "").split(",").some((t) => t.trim().toLowerCase() === "close");
        const keep = !closes && req.truncateBodyAt === undefined;
        finish(r, keep && !parser.leftover);
      }
    };
    const onEnd = (): void => {
      // Without a length the body runs to the end of the connection.
      if (parser.readsToClose()) finish(parser.response(), false);
      else finish({ kind: "closed", detail: "server closed the connection", partial: parser.started() }, false);
    };
    let socketError: Error | undefined;
    const onClose = (): void => {
      if (socketError && !parser.readsToClose()) finish({ kind: "closed", detail: `socket error: ${socketError.message}`, partial: parser.started() }, false);
      else onEnd();
    };
    // A write error (EPIPE: the server answered early and closed while we were still sending) may
    // come before the answer is read: judge on close, with whatever arrived.
    const onError = (e: Error): void => {
      socketError = e;
    };
    const timer = setTimeout(() => {
      const head = parser.head();
      finish(head ? { kind: "open", status: head.status, headers: head.headers, body: parser.bodySoFar() } : { kind: "timeout" }, false);
    }, timeoutMs);
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onClose);
    socket.on("error", onError);
    const bytes = serializeH1(req);
    socket.write(bytes, (e) => {
      if (e) return; // reported through "error"/"close"
      if (req.truncateBodyAt !== undefined) socket.end();
    });
  });
}

/** Just enough of an HTTP/1.1 response parser: status line, headers, content-length or chunked body, trailers. */
class H1ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private status = 0;
  private headers = new Map<string, string>();
  private readonly trailers = new Map<string, string>();
  private phase: "head" | "fixed" | "chunk-size" | "chunk-data" | "trailers" | "to-close" | "done" = "head";
  private remaining = 0;
  private readonly chunks: Buffer[] = [];
  error = "";
  leftover = false;

  constructor(private readonly headRequest: boolean) {}

  started(): boolean {
    return this.status !== 0 || this.buf.length > 0;
  }

  head(): { status: number; headers: Map<string, string> } | undefined {
    return this.status !== 0 && this.phase !== "head" ? { status: this.status, headers: this.headers } : undefined;
  }

  bodySoFar(): Buffer {
    return Buffer.concat(this.chunks);
  }

  readsToClose(): boolean {
    return this.phase === "to-close";
  }

  response(): WireResponse {
    return { kind: "response", status: this.status, headers: this.headers, body: Buffer.concat(this.chunks), trailers: this.trailers };
  }

  /** Feeds bytes; true once the response is complete, "error" when it cannot be parsed. */
  push(chunk: Buffer): boolean | "error" {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      switch (this.phase) {
        case "head": {
          const end = this.buf.indexOf("\r\n\r\n");
          if (end < 0) return this.buf.length > 64 * 1024 ? this.fail("response head over 64 KiB") : false;
          const lines = this.buf.subarray(0, end).toString("latin1").split("\r\n");
          this.buf = this.buf.subarray(end + 4);
          const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? "");
          if (!m) return this.fail(`bad status line ${JSON.stringify(lines[0])}`);
          this.status = Number(m[1]);
          this.headers = parseHeaderLines(lines.slice(1));
          if (this.status >= 100 && this.status < 200) continue; // 100 Continue: the real head follows
          const te = (this.headers.get("transfer-encoding") ?? "").toLowerCase();
          const cl = this.headers.get("content-length");
          if (this.headRequest || this.status === 204 || this.status === 304) this.phase = "done";
          else if (te.includes("chunked")) this.phase = "chunk-size";
          else if (cl !== undefined) {
            if (!/^\d+$/.test(cl)) return this.fail(`bad content-length ${cl}`);
            this.remaining = Number(cl);
            this.phase = this.remaining === 0 ? "done" : "fixed";
          } else this.phase = "to-close";
          continue;
        }
        case "fixed": {
          const take = Math.min(this.remaining, this.buf.length);
          if (take > 0) this.chunks.push(this.buf.subarray(0, take));
          this.buf = this.buf.subarray(take);
          this.remaining -= take;
          if (this.remaining > 0) return false;
          this.phase = "done";
          continue;
        }
        case "chunk-size": {
          const eol = this.buf.indexOf("\r\n");
          if (eol < 0) return false;
          const size = parseInt(this.buf.subarray(0, eol).toString("latin1").split(";")[0] ?? "", 16);
          if (!Number.isFinite(size) || size < 0) return this.fail("bad chunk size");
          this.buf = this.buf.subarray(eol + 2);
          if (size === 0) this.phase = "trailers";
          else {
            this.remaining = size;
            this.phase = "chunk-data";
          }
          continue;
        }
        case "chunk-data": {
          if (this.buf.length < this.remaining + 2) return false; // the rest of the chunk is still coming
          this.chunks.push(this.buf.subarray(0, this.remaining));
          if (this.buf[this.remaining] !== 0x0d || this.buf[this.remaining + 1] !== 0x0a) return this.fail("chunk not followed by CRLF");
          this.buf = this.buf.subarray(this.remaining + 2);
          this.phase = "chunk-size";
          continue;
        }
        case "trailers": {
          const end = this.buf.indexOf("\r\n");
          if (end < 0) return false;
          if (end === 0) {
            this.buf = this.buf.subarray(2);
            this.phase = "done";
            continue;
          }
          const line = this.buf.subarray(0, end).toString("latin1");
          this.buf = this.buf.subarray(end + 2);
          for (const [k, v] of parseHeaderLines([line])) this.trailers.set(k, v);
          continue;
        }
        case "to-close":
          if (this.buf.length > 0) this.chunks.push(this.buf);
          this.buf = Buffer.alloc(0);
          return false;
        case "done":
          this.leftover = this.buf.length > 0;
          return true;
      }
    }
  }

  private fail(why: string): "error" {
    this.error = why;
    return "error";
  }
}

function parseHeaderLines(lines: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    const prev = out.get(name);
    out.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 (prior knowledge) over a few shared sessions, reopened when the server drops one. Native
// gRPC (proto) and everything else never share a session: the server gives each connection to one
// engine by its first request (README, "Two gRPC engines"), as real clients' one-protocol sessions get.

/** The server's rule for a grpc-js connection (src/transport/http/first-headers.ts, isGrpcProto). */
const NATIVE_GRPC = /^application\/grpc(\+proto)?\s*(;|$)/i;

class H2Pool {
  private readonly sessions: (http2.ClientHttp2Session | undefined)[];
  private next = 0;

  constructor(
    private readonly baseUrl: string,
    size: number,
  ) {
    // The first half for native gRPC, the second for every other protocol.
    this.sessions = new Array<http2.ClientHttp2Session | undefined>(2 * size).fill(undefined);
  }

  private session(isolated: boolean, grpc: boolean): http2.ClientHttp2Session {
    if (isolated) {
      const own = http2.connect(this.baseUrl, { maxHeaderListPairs: 4096 });
      own.on("error", () => undefined);
      return own;
    }
    const half = this.sessions.length / 2;
    const i = (this.next++ % half) + (grpc ? 0 : half);
    const s = this.sessions[i];
    if (s && !s.closed && !s.destroyed) return s;
    const fresh = http2.connect(this.baseUrl, { maxHeaderListPairs: 4096 });
    fresh.on("error", () => undefined); // failures surface on the streams
    fresh.once("close", () => {
      if (this.sessions[i] === fresh) this.sessions[i] = undefined;
    });
    fresh.once("goaway", () => {
      if (this.sessions[i] === fresh) this.sessions[i] = undefined;
    });
    this.sessions[i] = fresh;
    return fresh;
  }

  send(req: WireRequest, timeoutMs: number): Promise<WireResult> {
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      const contentType = req.headers.find(([n]) => n.toLowerCase() === "content-type")?.[1] ?? "";
      const session = this.session(req.isolate === true, NATIVE_GRPC.test(contentType));
      const headers: http2.OutgoingHttpHeaders = { ":method": req.method, ":path": req.path, ":scheme": "http", ":authority": "fuzz.local" };
      for (const [n, v] of req.headers) {
        const name = n.toLowerCase();
        const prev = headers[name];
        headers[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
      }
      try {
        stream = session.request(headers, { endStream: req.body.length === 0 });
      } catch (e) {
        if (req.isolate) session.destroy();
        resolve({ kind: "unsent", detail: e instanceof Error ? e.message : String(e) });
        return;
      }
      let status = 0;
      let responseHeaders = new Map<string, string>();
      const trailers = new Map<string, string>();
      const chunks: Buffer[] = [];
      let settled = false;
      const finish = (r: WireResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Only a stream we give up on is reset: resetting finished ones too would look like a
        // rapid-reset flood, and the server rightly tears the session down (ENHANCE_YOUR_CALM).
        if ((r.kind === "open" || r.kind === "timeout") && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        // Not from inside the stream's own callbacks, which Node may run while nghttp2 is still parsing
        // the session's input: tearing it down there is the reentrancy Node's http2 binding has had
        // memory-corruption bugs with (the soak client died of a glibc heap check twice).
        if (req.isolate) setImmediate(() => session.destroy());
        resolve(r);
      };
      const timer = setTimeout(() => {
        finish(status !== 0 ? { kind: "open", status, headers: responseHeaders, body: Buffer.concat(chunks) } : { kind: "timeout" });
      }, timeoutMs);
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        responseHeaders = flattenH2(h);
      });
      stream.on("trailers", (h) => {
        for (const [k, v] of flattenH2(h)) trailers.set(k, v);
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (status === 0) finish({ kind: "closed", detail: "stream ended without headers", partial: false });
        else finish({ kind: "response", status, headers: responseHeaders, body: Buffer.concat(chunks), trailers });
      });
      stream.on("error", (e: Error) => finish({ kind: "closed", detail: `stream error: ${e.message}`, partial: status !== 0 }));
      stream.on("close", () => {
        if (settled) return;
        // A reset stream closes without "end"; a clean end has already settled.
        finish({ kind: "closed", detail: `stream closed (rst ${stream.rstCode ?? "none"})`, partial: status !== 0 });
      });
      if (req.body.length > 0) {
        stream.end(Buffer.from(req.body));
      }
    });
  }

  close(): void {
    for (const s of this.sessions) s?.destroy();
    this.sessions.fill(undefined);
  }
}

function flattenH2(h: http2.IncomingHttpHeaders): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(":") && k !== ":status") continue;
    if (v === undefined) continue;
    out.set(k.toLowerCase(), Array.isArray(v) ? v.join(", ") : String(v));
  }
  return out;
}
