// Serves HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port: peeks at the first bytes of
// each connection for the HTTP/2 preface and hands the socket to the matching Node server.

import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { HttpHandler } from "./handler.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export interface OnePortOptions {
  readonly handler: HttpHandler;
  /** Concurrent streams per HTTP/2 connection. */
  readonly maxConcurrentStreams: number;
  /** A connection must send its first request headers within this time. */
  readonly headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this time. */
  readonly idleTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

export class OnePortServer {
  private readonly tcp: net.Server;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/1.1 sockets and their in-flight request counts: http.Server only tracks connections it accepted itself. */
  private readonly h1Sockets = new Map<net.Socket, number>();
  /** Every accepted socket, so the grace deadline can cut even ones still being sniffed. */
  private readonly sockets = new Set<net.Socket>();
  private closing = false;

  constructor(options: OnePortOptions) {
    this.h1 = http.createServer(
      {
        headersTimeout: options.headersTimeoutMs,
        requestTimeout: 0, // streams and blocking assigns may legitimately run long
        keepAliveTimeout: options.idleTimeoutMs,
        maxHeaderSize: options.maxHeaderBytes,
      },
      options.handler as http.RequestListener,
    );
    this.h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      this.h1Sockets.set(socket, (this.h1Sockets.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const left = (this.h1Sockets.get(socket) ?? 1) - 1;
        if (this.h1Sockets.has(socket)) this.h1Sockets.set(socket, left);
        if (this.closing && left === 0) socket.destroy();
      });
    });
    this.h2 = http2.createServer(
      {
        settings: { maxConcurrentStreams: options.maxConcurrentStreams, maxHeaderListSize: options.maxHeaderBytes },
        maxSessionInvalidFrames: 100,
        maxSessionRejectedStreams: 100,
      },
      options.handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    this.h2.on("session", (session) => {
      this.sessions.add(session);
      // A quiet connection gets a polite GOAWAY: open streams may finish, new ones go elsewhere.
      session.setTimeout(options.idleTimeoutMs, () => session.close());
      session.once("close", () => this.sessions.delete(session));
    });
    this.tcp = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      this.sniff(socket, options.headersTimeoutMs);
    });
  }

  listen(port: number, host: string): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(port, host, () => {
        this.tcp.off("error", reject);
        resolve(this.tcp.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting, lets in-flight requests finish for up to graceMs, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const session of this.sessions) session.close();
    for (const [socket, active] of this.h1Sockets) if (active === 0) socket.destroy();
    const timer = setTimeout(() => {
      for (const session of this.sessions) session.destroy();
      for (const socket of this.sockets) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  private sniff(socket: net.Socket, timeoutMs: number): void {
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const isH2Prefix = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2Prefix && seen.length < PREFACE.length) return; // need more bytes to decide
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.pause();
      socket.unshift(seen);
      if (isH2Prefix) {
        this.h2.emit("connection", socket);
      } else {
        this.h1Sockets.set(socket, 0);
        socket.once("close", () => this.h1Sockets.delete(socket));
        this.h1.emit("connection", socket);
        // The HTTP/1 parser only starts reading once the socket flows again.
        socket.resume();
      }
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", onError);
  }
}
