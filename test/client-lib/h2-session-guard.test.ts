// The client's HTTP/2 session manager: a keep-alive ping on a session destroyed under it reports to
// its callback instead of throwing from a timer (connect-es issue 1795 took the user's process down).

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GuardedSessionManager } from "../../src/client/h2-session-guard.js";

let server: http2.Http2Server;
let url: string;

beforeAll(async () => {
  // Answers every request with headers and one byte, then keeps the stream open, like a watch.
  server = http2.createServer((_req, res) => {
    res.writeHead(200);
    res.write("x");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function openStream(manager: GuardedSessionManager | undefined): Promise<http2.ClientHttp2Session> {
  if (manager) {
    const stream = await manager.request("POST", "/x", {}, {});
    stream.on("error", () => undefined);
    return stream.session as http2.ClientHttp2Session;
  }
  const session = http2.connect(url);
  await new Promise((resolve) => session.once("connect", resolve));
  return session;
}

describe("GuardedSessionManager", () => {
  it("hands out sessions whose ping, once destroyed, calls back with ERR_HTTP2_PING_CANCEL instead of throwing", async () => {
    const manager = new GuardedSessionManager(url, { pingIntervalMs: 60_000, pingTimeoutMs: 1_000 });
    const session = await openStream(manager);
    session.on("error", () => undefined);
    // A live session pings as before.
    const live = await new Promise<Error | null>((resolve) => session.ping((err) => resolve(err)));
    expect(live).toBeNull();
    session.destroy();
    let answered: (NodeJS.ErrnoException | null)[] = [];
    const sent = session.ping((err) => (answered = [err as NodeJS.ErrnoException | null]));
    expect(sent).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered[0]?.code).toBe("ERR_HTTP2_PING_CANCEL");
    manager.abort();
  });

  it("is needed: Node's own ping on a destroyed session throws synchronously", async () => {
    const session = await openStream(undefined);
    session.on("error", () => undefined);
    session.destroy();
    expect(() => session.ping(() => undefined)).toThrow(expect.objectContaining({ code: "ERR_HTTP2_INVALID_SESSION" }));
  });
});
