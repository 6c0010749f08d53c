// An HTTP/2 session manager for the client's connect-node transports whose keep-alive pings cannot
// crash the user's process: connect-node pings a session that may already be destroyed.
//
// connect-node's ping timer can fire between a session's destroy() (synchronous) and the close
// handlers that stop the timer (a later tick); ClientHttp2Session.ping() then throws
// ERR_HTTP2_INVALID_SESSION from a timer, an uncaughtException (connect-es issue 1795, fix pending in
// connect-es pull request 1797). Every session this manager hands out answers such a ping through its
// callback instead, which connect-node already treats as a cancelled ping. Drop this when the fix ships.

import { Http2SessionManager, type Http2SessionOptions } from "@connectrpc/connect-node";
import type * as http2 from "node:http2";

type PingCallback = (err: Error | null, duration: number, payload: Buffer) => void;

const guarded = new WeakSet<http2.ClientHttp2Session>();

/** Makes `session.ping()` on a closed or destroyed session report to its callback rather than throw. */
export function guardPing(session: http2.ClientHttp2Session): void {
  if (guarded.has(session)) return;
  guarded.add(session);
  const ping = session.ping.bind(session) as (...args: unknown[]) => boolean;
  const safePing = (...args: unknown[]): boolean => {
    if (!session.closed && !session.destroyed) return ping(...args);
    const callback = args[args.length - 1] as PingCallback;
    const err = Object.assign(new Error("HTTP/2 PING on a closed session"), { code: "ERR_HTTP2_PING_CANCEL" });
    process.nextTick(() => callback(err, 0, Buffer.alloc(8)));
    return false;
  };
  session.ping = safePing as typeof session.ping;
}

/** connect-node's session manager, with every session it opens guarded as above. */
export class GuardedSessionManager extends Http2SessionManager {
  constructor(url: URL | string, pingOptions?: Http2SessionOptions) {
    super(url, pingOptions);
  }

  override async request(...args: Parameters<Http2SessionManager["request"]>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    // The stream's session is the one connect-node pings; a session is guarded with its first stream,
    // before any ping timer of it can run (pings start once a stream is open).
    guardPing(stream.session as http2.ClientHttp2Session);
    return stream;
  }
}
