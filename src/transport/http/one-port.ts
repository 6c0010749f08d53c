// Serves HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port: peeks at the first bytes of
// each connection for the HTTP/2 preface and hands the socket to the matching Node server, applying
// the connection limits and timeouts (slow or silent clients, stream floods, clients that stop reading).
// With a gRPC engine attached, an HTTP/2 connection whose first request is gRPC goes to it instead.

import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { ConnectionLimits } from "../../config/limits.js";
import { sendJson } from "./fallback.js";
import { GOAWAY_NO_ERROR, isGrpcProto, scanFirstHeaders, settingsFrame } from "./first-headers.js";
import { probeOnHalfClose } from "./half-close.js";
import type { HttpHandler, HttpRequest, HttpResponse } from "./handler.js";
import { prepareRequestHead } from "./request-head.js";
import type { StreamAuthGate } from "./stream-auth-gate.js";
import { interceptStreams } from "./stream-intercept.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * A peer whose streams keep being refused or whose frames are invalid is flooding, not mistaken: past
 * these counts Node tears the session down. Refused streams include those beyond maxConnectionStreams.
 */
const MAX_SESSION_REJECTED_STREAMS = 100;
const MAX_SESSION_INVALID_FRAMES = 100;
/**
 * Streams a client may cancel before the server could even dispatch them, per connection and second.
 * A real client cancels calls it has waited on; hundreds cancelled unseen is a rapid-reset flood, which
 * Node's own nghttp2 limit lets run for thousands of streams. Past it: GOAWAY(ENHANCE_YOUR_CALM).
 */
const MAX_EARLY_RESETS_PER_SECOND = 100;

export interface OnePortOptions extends ConnectionLimits {
  readonly handler: HttpHandler;
  /**
   * A handler that threw or rejected (a bug: the client got a 500), or the listener failing to accept
   * a connection (out of file descriptors, say). Either way the process keeps serving.
   */
  readonly onError: (e: unknown, what: "handler" | "accept") => void;
  /**
   * Answers some HTTP/2 streams from their headers alone, before Node's compat layer builds a request
   * and a response for them (the auth gate's rejections: stream-auth-gate.ts); the rest are served as
   * usual. HTTP/1.1 requests never meet it.
   */
  readonly streamGate?: StreamAuthGate;
  /**
   * Takes HTTP/2 connections whose first request is gRPC (not gRPC-Web), for the whole connection.
   * Unset: every HTTP/2 connection goes to `handler`.
   */
  readonly grpc?: {
    readonly injectConnection: (socket: net.Socket) => void;
    /** Shutdown: GOAWAY to its sessions now, cut what is left after graceMs. */
    readonly drain: (graceMs: number) => void;
  };
}

/**
 * Bytes of frames a client may send before its first request's header block is complete (SETTINGS,
 * WINDOW_UPDATE, PING and the block itself): past this the connection goes to the Node HTTP/2 server
 * undecided, which applies its own header-list limit (ENHANCE_YOUR_CALM).
 */
const FIRST_HEADERS_SLACK = 64 * 1024;

export class OnePortServer {
  private readonly tcp: net.Server;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/1.1 sockets and their in-flight responses, oldest first: http.Server only tracks connections it accepted itself. */
  private readonly h1Sockets = new Map<net.Socket, http.ServerResponse[]>();
  /** Every accepted socket, so the grace deadline can cut even ones still being sniffed. */
  private readonly sockets = new Set<net.Socket>();
  private readonly stalls: StallGuard;
  /** Per HTTP/2 session: streams the client cancelled before they could be dispatched, in the current second. */
  private readonly earlyResets = new WeakMap<http2.Http2Session, { since: number; count: number }>();
  private closing = false;
  private readonly onError: OnePortOptions["onError"];
  private readonly grpc: OnePortOptions["grpc"];
  private readonly firstHeadersLimit: number;
  /** The Node HTTP/2 server's own SETTINGS, sent early by the sniffer (see sniff()). */
  private readonly earlySettings: Buffer;

  constructor(options: OnePortOptions) {
    this.onError = options.onError;
    this.grpc = options.grpc;
    this.firstHeadersLimit = PREFACE.length + options.maxHeaderBytes + FIRST_HEADERS_SLACK;
    this.stalls = new StallGuard(options.writeStallTimeoutMs);
    const dispatch = (req: HttpRequest, res: HttpResponse): void => {
      const problem = prepareRequestHead(req);
      if (problem !== undefined) {
        sendJson(res, 400, { error: `bad request: ${problem}` }, req instanceof http2.Http2ServerRequest ? {} : { connection: "close" });
        return;
      }
      // One request's bug must not end the process and every other client's calls with it.
      try {
        const result: unknown = options.handler(req, res);
        if (result instanceof Promise) result.catch((e: unknown) => failed(e, res));
      } catch (e) {
        failed(e, res);
      }
    };
    const failed = (e: unknown, res: HttpResponse): void => {
      this.onError(e, "handler");
      try {
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.destroy();
      } catch {
        res.destroy(); // the response itself is broken: cutting it is all that is left
      }
    };
    const handler = (req: HttpRequest, res: HttpResponse): void => {
      this.stalls.track(res);
      res.once("close", () => {
        this.stalls.forget(res);
        // connect-node's write() waits for 'drain' once a buffer is full and is never told of a stream
        // destroyed meanwhile (client gone, or cut for stalling; compat responses do not forward
        // errors): the handler, and a WatchLeases slot, would hang forever. A last 'drain' wakes the
        // writer, whose next write then fails on the closed stream and ends the call.
        if (!res.writableFinished) res.emit("drain");
      });
      if (!(req instanceof http2.Http2ServerRequest)) {
        dispatch(req, res);
        return;
      }
      // HTTP/2 rapid reset (CVE-2023-44487): an attacker's HEADERS and RST_STREAM arrive in the same
      // read. Dispatching once that read has been processed means a stream cancelled at birth costs no
      // handler work, and a connection that keeps doing it is sent away.
      const { stream } = req;
      const session = stream.session; // a destroyed stream no longer knows its session
      setImmediate(() => {
        if (!stream.closed && !stream.destroyed) dispatch(req, res);
        else if (session) this.resetAtBirth(session);
      });
    };
    this.h1 = http.createServer(
      {
        headersTimeout: options.headersTimeoutMs,
        // Time to receive the whole request, not to answer it: streams and blocking assigns are unaffected.
        requestTimeout: options.requestTimeoutMs,
        keepAliveTimeout: options.idleTimeoutMs,
        maxHeaderSize: options.maxHeaderBytes,
        // The headers and request timeouts are only enforced when this sweep runs (Node's default: 30 s).
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, options.headersTimeoutMs / 4)),
      },
      handler as http.RequestListener,
    );
    // A client may half-close (TCP FIN) once its request is sent and still wait for the answer: the
    // parser then marks the pending response as the connection's last instead of abandoning the call
    // (Node's default aborts the request and ends the socket, so a call applied meanwhile went
    // unanswered). Needs half-open sockets from the sniffer, below; half-close.ts tells a client that
    // closed for good from one that half-closed.
    (this.h1 as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // http.Server starts its timeout sweep when *it* starts listening, which it never does here (the
    // sockets come from the sniffer): without this, a slowloris head would never time out.
    this.h1.emit("listening");
    this.h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      const open = this.h1Sockets.get(socket);
      open?.push(res);
      res.once("close", () => {
        const at = open?.indexOf(res) ?? -1;
        if (at >= 0) open?.splice(at, 1);
        if (this.closing && (open?.length ?? 0) === 0) socket.destroy();
      });
    });
    const settings = { maxConcurrentStreams: options.maxConnectionStreams, maxHeaderListSize: options.maxHeaderBytes };
    this.earlySettings = settingsFrame(http2.getPackedSettings(settings));
    this.h2 = http2.createServer(
      {
        settings,
        maxSessionInvalidFrames: MAX_SESSION_INVALID_FRAMES,
        maxSessionRejectedStreams: MAX_SESSION_REJECTED_STREAMS,
      },
      handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    const gate = options.streamGate;
    if (gate !== undefined) {
      interceptStreams(this.h2, (stream, headers) => {
        const answer = gate(stream, headers);
        if (answer === undefined) return false;
        // As handler() does for what it dispatches (rapid reset): answered once the read that brought
        // the stream has been processed, so a stream cancelled at birth costs nothing and is counted.
        const session = stream.session;
        setImmediate(() => {
          if (!stream.closed && !stream.destroyed) answer();
          else if (session) this.resetAtBirth(session);
        });
        return true;
      });
    }
    this.h2.on("session", (session) => {
      this.sessions.add(session);
      // A quiet connection gets a polite GOAWAY: open streams may finish, new ones go elsewhere. If it
      // stays silent for another period (a stream that never completes), it is cut.
      session.setTimeout(options.idleTimeoutMs, () => {
        if (session.closed) session.destroy();
        else session.close();
      });
      session.once("close", () => this.sessions.delete(session));
    });
    // Half-open, so an HTTP/1.1 client's FIN leaves the socket writable for its answer (see h1 above).
    this.tcp = net.createServer({ allowHalfOpen: true }, (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      this.sniff(socket, options.headersTimeoutMs, options.idleTimeoutMs);
    });
    // Past this the listener closes new connections on accept, before reading a byte from them.
    this.tcp.maxConnections = options.maxConnections;
  }

  listen(port: number, host: string): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(port, host, () => {
        this.tcp.off("error", reject);
        // Node reports a failed accept (EMFILE, ENFILE) as a server 'error': unheard, it ends the process.
        this.tcp.on("error", (e) => this.onError(e, "accept"));
        resolve(this.tcp.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting, lets in-flight requests finish for up to graceMs, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const session of this.sessions) session.close();
    this.grpc?.drain(graceMs);
    for (const [socket, open] of this.h1Sockets) if (open.length === 0) socket.destroy();
    this.stalls.stop();
    const timer = setTimeout(() => {
      for (const session of this.sessions) session.destroy();
      for (const socket of this.sockets) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  private resetAtBirth(session: http2.Http2Session): void {
    if (session.closed || session.destroyed) return; // already sent away
    const now = Date.now();
    let window = this.earlyResets.get(session);
    if (!window || now - window.since >= 1_000) this.earlyResets.set(session, (window = { since: now, count: 0 }));
    if (++window.count > MAX_EARLY_RESETS_PER_SECOND) {
      // GOAWAY, then a graceful close: new streams are refused by nghttp2 without reaching us, and the
      // socket is not torn down under a peer still writing (a reset could lose the GOAWAY).
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.close();
    }
  }

  private sniff(socket: net.Socket, timeoutMs: number, idleTimeoutMs: number): void {
    let seen: Buffer = Buffer.alloc(0);
    let h2 = false;
    let timer = setTimeout(() => socket.destroy(), timeoutMs);
    const handOver = (bytes: Buffer, to: "h1" | "h2" | "grpc"): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("end", onEnd);
      socket.pause();
      socket.unshift(bytes);
      if (to !== "h1") {
        // HTTP/2 ends its streams in frames; a peer's FIN ends the session as before.
        socket.allowHalfOpen = false;
        if (to === "grpc") this.grpc?.injectConnection(socket);
        else this.h2.emit("connection", socket);
      } else {
        const open: http.ServerResponse[] = [];
        this.h1Sockets.set(socket, open);
        socket.once("close", () => this.h1Sockets.delete(socket));
        probeOnHalfClose(socket, () => open[0]);
        this.h1.emit("connection", socket);
        // The HTTP/1 parser only starts reading once the socket flows again.
        socket.resume();
      }
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      if (!h2) {
        const n = Math.min(seen.length, PREFACE.length);
        const isH2Prefix = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
        if (isH2Prefix && seen.length < PREFACE.length) return; // need more bytes to decide
        if (!isH2Prefix) return handOver(seen, "h1");
        if (this.grpc === undefined) return handOver(seen, "h2");
        h2 = true;
        // An HTTP/2 connection that has not sent a request yet is an idle session, as it would be on
        // the Node server: a polite GOAWAY after the idle timeout, and the socket closed behind it.
        clearTimeout(timer);
        timer = setTimeout(() => {
          socket.end(GOAWAY_NO_ERROR);
          timer = setTimeout(() => socket.destroy(), timeoutMs);
        }, idleTimeoutMs);
        // Some clients (grpc-go) send no request before the server's SETTINGS: the ones the Node
        // server will send go out now (grpc-js sends its own after them), and the client's ACK of
        // this frame is taken out of what the chosen server will read.
        socket.write(this.earlySettings);
      }
      const scan = scanFirstHeaders(seen, PREFACE.length, true);
      if (scan.done) handOver(scan.replay, isGrpcProto(scan.headers?.get("content-type")) ? "grpc" : "h2");
      else if (seen.length > this.firstHeadersLimit) handOver(scan.replay, "h2");
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    // A FIN before the protocol is known (nothing, part of the HTTP/2 preface, or no request yet): nothing to answer.
    const onEnd = (): void => onError();
    socket.on("data", onData);
    socket.on("error", onError);
    socket.once("end", onEnd);
  }
}

/**
 * Cuts responses whose client stopped reading. connect-node waits for 'drain' before writing more, so
 * such a response would hold its stream (and a WatchLeases slot) for as long as the peer stays
 * connected; memory is bounded by the socket and flow-control buffers, but the slot is not. One sweep
 * timer for all responses: one whose buffer has been full with no 'drain' for longer than the limit is
 * reset. A slow reader still drains now and then, and each drain starts the clock again.
 */
class StallGuard {
  /** Open responses and when each started waiting for 'drain' (undefined while writes flow). */
  private readonly open = new Map<HttpResponse, number | undefined>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly limitMs: number) {
    if (limitMs > 0) this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(1_000, limitMs / 4))).unref();
  }

  track(res: HttpResponse): void {
    if (this.timer !== undefined) this.open.set(res, undefined);
  }

  forget(res: HttpResponse): void {
    this.open.delete(res);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [res, since] of this.open) {
      const out = writableOf(res);
      if (!out.writableNeedDrain) {
        if (since !== undefined) this.open.set(res, undefined);
      } else if (since === undefined) {
        this.open.set(res, now);
        out.once("drain", () => {
          if (this.open.has(res)) this.open.set(res, undefined);
        });
      } else if (now - since >= this.limitMs) {
        this.open.delete(res);
        cut(res);
      }
    }
  }
}

/** What actually buffers the bytes: the HTTP/2 stream, or the HTTP/1.1 response itself. */
function writableOf(res: HttpResponse): NodeJS.EventEmitter & { readonly writableNeedDrain: boolean } {
  return res instanceof http2.Http2ServerResponse ? res.stream : res;
}

/** Resets the one stream on HTTP/2; HTTP/1.1 has no way to end a response early but closing the socket. */
function cut(res: HttpResponse): void {
  if (res instanceof http2.Http2ServerResponse) res.stream.close(http2.constants.NGHTTP2_CANCEL);
  else res.destroy();
}
