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
    this.tcp = net.createServer((socket) => this.sniff(socket, options.headersTimeoutMs));
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
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const s of this.sessions) s.close();
    this.h1.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
      this.h1.closeAllConnections();
    }, graceMs);
    timer.unref();
    await Promise.all([
      closed,
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.sessions.size === 0) resolve();
          else setTimeout(check, 20).unref();
        };
        check();
      }),
    ]);
    this.h1.closeAllConnections();
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
