// An HTTP/1.1 client that half-closes (TCP FIN) right after sending its request still waits for the
// answer: every call the server applies must be answered while the socket can carry it, on every store.

import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient, type TestClient } from "../harness/clients.js";
import { STORES, startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

interface HalfClosedExchange {
  /** Everything the server sent before closing, as text. */
  readonly text: string;
  /** Whether the server closed its side in an orderly way (FIN), after the answer. */
  readonly ended: boolean;
  /** Whether the server never closed and the test gave up. */
  readonly timedOut: boolean;
}

/** Writes the request bytes, half-closes at once, and reads until the server closes (or 10 s pass). */
function sendThenHalfClose(port: number, request: string): Promise<HalfClosedExchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(request, "latin1");
      socket.end();
    });
    let text = "";
    let ended = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, 10_000);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("end", () => (ended = true));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, ended, timedOut });
    });
  });
}

const rpc = (password: string, method: string, body: object): string => {
  const json = JSON.stringify(body);
  return (
    `POST /tokenpool.v1.TokenService/${method} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
    `x-api-password: ${password}\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`
  );
};

/**
 * The final HTTP/1.1 responses in a stream of bytes (each with a content-length), with their JSON
 * bodies; interim `100 Continue` responses are skipped, as every client must.
 */
function responses(text: string): { status: number; body: Record<string, unknown> }[] {
  const out: { status: number; body: Record<string, unknown> }[] = [];
  let rest = text;
  for (;;) {
    while (rest.startsWith("HTTP/1.1 100 Continue\r\n\r\n")) rest = rest.slice("HTTP/1.1 100 Continue\r\n\r\n".length);
    const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(rest);
    if (!m) return out;
    const length = Number(/content-length: (\d+)/i.exec(m[2]!)?.[1] ?? "0");
    const start = m[0].length;
    out.push({ status: Number(m[1]), body: JSON.parse(rest.slice(start, start + length)) as Record<string, unknown> });
    rest = rest.slice(start + length);
  }
}

describe.each(STORES)("HTTP/1.1 half-close, %s store", (store) => {
  let s: TestServer;
  let client: TestClient;
  beforeAll(async () => {
    s = await startTestServer(store);
    client = connectClient(s.url, s.password, "grpc-h2");
    await client.unary("createPool", { name: "one", leaseTtl: "60s", maxTokens: 1, initialTokens: 1 });
  });
  afterAll(async () => {
    client?.close();
    await s?.close();
  });
  const waiters = async (pool: string): Promise<number> => ((await client.unary("getPool", { name: pool })) as { pool: { waiters?: number } }).pool.waiters ?? 0;

  it("answers an AssignToken sent before the FIN, with the lease it applied", async () => {
    const { text, ended } = await sendThenHalfClose(s.server.port, rpc(s.password, "AssignToken", { pool: "default", owner: "fin-1" }));
    const [answer, ...more] = responses(text);
    expect(answer?.status).toBe(200);
    expect(more).toEqual([]);
    const lease = answer!.body.lease as { token: string; owner: string };
    expect(lease.owner).toBe("fin-1");
    // The answer is the lease the store holds, not one of a call applied twice or not at all.
    const held = await client.unary("getToken", { pool: "default", token: lease.token });
    expect(held).toMatchObject({ token: lease.token, state: "TOKEN_STATE_HELD", lease: { owner: "fin-1" } });
    // Then the connection is closed in order: the response was the socket's last.
    expect(ended).toBe(true);
    await client.unary("releaseToken", { pool: "default", token: lease.token });
  });

  it("answers an assign that waits for a token after the FIN arrived", async () => {
    const first = (await client.unary("assignToken", { pool: "one", owner: "holder" })) as { lease: { token: string } };
    const waiting = sendThenHalfClose(s.server.port, rpc(s.password, "AssignToken", { pool: "one", owner: "fin-2", waitTimeout: "10s" }));
    // The waiter is queued (and the FIN long received) before the token comes back; it outlives the
    // server's probes for a client gone for good (the last at 1 s).
    await expect.poll(() => waiters("one")).toBe(1);
    await sleep(1_300);
    expect(await waiters("one")).toBe(1);
    await client.unary("releaseToken", { pool: "one", token: first.lease.token });
    const { text } = await waiting;
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n/); // the probe, which the client skips
    const [answer] = responses(text);
    expect(answer?.status).toBe(200);
    expect(answer!.body.lease).toMatchObject({ pool: "one", owner: "fin-2", token: first.lease.token });
    await client.unary("releaseToken", { pool: "one", token: first.lease.token });
  });

  it("stops the wait of a client that closed its socket for good, so it takes no token", async () => {
    const first = (await client.unary("assignToken", { pool: "one", owner: "holder" })) as { lease: { token: string } };
    const socket = net.connect(s.server.port, "127.0.0.1", () => {
      socket.write(rpc(s.password, "AssignToken", { pool: "one", owner: "gone", waitTimeout: "10s" }), "latin1");
    });
    socket.on("error", () => undefined);
    await expect.poll(() => waiters("one")).toBe(1);
    socket.destroy(); // close(): a FIN, like the half-close, but nobody reads any more
    await expect.poll(() => waiters("one"), { timeout: 5_000 }).toBe(0);
    await client.unary("releaseToken", { pool: "one", token: first.lease.token });
    expect((await client.unary("getPool", { name: "one" })).pool).toMatchObject({ available: 1 });
  });

  it("answers every pipelined request sent before the FIN, in order", async () => {
    const request = rpc(s.password, "GetPool", { name: "default" }) + rpc(s.password, "GetPool", { name: "one" });
    const answers = responses((await sendThenHalfClose(s.server.port, request)).text);
    expect(answers.map((a) => [a.status, (a.body.pool as { name: string }).name])).toEqual([
      [200, "default"],
      [200, "one"],
    ]);
  });

  it("closes a connection that half-closes without a request", async () => {
    for (const bytes of ["", "PRI * HTTP/2.0\r\n"]) {
      const { text, timedOut } = await sendThenHalfClose(s.server.port, bytes);
      expect(text).toBe("");
      expect(timedOut).toBe(false);
    }
  });
});
