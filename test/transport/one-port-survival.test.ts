// What must not end the process: request heads Node's parsers accept but URL code rejects (a Host with
// a space, HTTP/1.0 without Host, a target like `//[`; each once crashed it from inside connect-node),
// a handler that throws (its request gets a 500), and a failed accept (logged, throttled).

import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpRequest } from "../../src/transport/http/handler.js";
import { OnePortServer } from "../../src/transport/http/one-port.js";
import { prepareRequestHead } from "../../src/transport/http/request-head.js";
import { defaultConnectionLimits } from "../../src/config/limits.js";
import { createLogger } from "../../src/runtime/logger.js";
import { ACCEPT_ERROR_LOG_INTERVAL_MS, transportErrorLog } from "../../src/server/transport-error-log.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { ManualClock } from "../harness/manual-clock.js";

interface RawResponse {
  readonly status: number;
  readonly headers: string;
  readonly body: string;
}

/** Sends bytes as they are and reads one response (the connection is closed or times out after it). */
function rawHttp(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request, "latin1"));
    let text = "";
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (m) resolve({ status: Number(m[1]), headers: m[2]!.toLowerCase(), body: m[3]! });
      else reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
    };
    const timer = setTimeout(done, 1_500);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
      // Every answer here is a small JSON body with a content-length: stop as soon as it is complete.
      const length = /content-length: (\d+)/i.exec(text);
      const head = text.indexOf("\r\n\r\n");
      if (length && head >= 0 && text.length >= head + 4 + Number(length[1])) done();
    });
    socket.on("close", done);
    socket.on("error", () => undefined);
  });
}

describe("request heads URL code cannot parse", () => {
  let t: TestServer;
  let port: number;
  beforeAll(async () => {
    t = await startTestServer("memory");
    port = t.server.port;
  });
  afterAll(() => t.close());

  const getPool = (head: string): string =>
    `POST /tokenpool.v1.TokenService/GetPool ${head}content-type: application/json\r\nx-api-password: ${t.password}\r\ncontent-length: 18\r\n\r\n{"name":"default"}`;

  it("answers 400 to a Host that is not a valid authority, on RPC and plain routes alike", async () => {
    const rpc = await rawHttp(port, getPool("HTTP/1.1\r\nhost: a b\r\n"));
    expect(rpc.status).toBe(400);
    expect(JSON.parse(rpc.body)).toEqual({ error: 'bad request: invalid Host "a b"' });
    expect(rpc.headers).toContain("connection: close");
    const plain = await rawHttp(port, "GET /healthz HTTP/1.1\r\nhost: [::1\r\n\r\n");
    expect(plain.status).toBe(400);
    expect(plain.body).toContain("invalid Host");
  });

  it("answers 400 to a request target that does not resolve to a URL, over HTTP/1.1 and HTTP/2", async () => {
    const h1 = await rawHttp(port, "GET //[ HTTP/1.1\r\nhost: x\r\n\r\n");
    expect(h1.status).toBe(400);
    expect(JSON.parse(h1.body)).toEqual({ error: 'bad request: invalid request target "//["' });

    const session = http2.connect(t.url);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ":method": "GET", ":path": "//[" });
        let status = 0;
        let body = "";
        req.on("response", (h) => (status = Number(h[":status"])));
        req.setEncoding("utf8").on("data", (c: string) => (body += c));
        req.on("end", () => resolve({ status, body }));
        req.on("error", reject);
      });
      expect(status).toBe(400);
      expect(body).toContain("invalid request target");
    } finally {
      session.close();
    }
  });

  it("serves requests that legally carry no authority: HTTP/1.0 without Host, an empty Host", async () => {
    const old = await rawHttp(port, getPool("HTTP/1.0\r\n"));
    expect(old.status).toBe(200);
    expect(JSON.parse(old.body)).toMatchObject({ pool: { name: "default" } });
    const empty = await rawHttp(port, "GET /healthz HTTP/1.1\r\nhost:\r\n\r\n");
    expect(empty.status).toBe(200);
  });

  it("keeps serving everyone else afterwards", async () => {
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).toBe(200);
  });
});

describe("prepareRequestHead", () => {
  // Its fast path skips the URL parse for plain "/path" targets: it must never pass one that connect-node's
  // `new URL(target, "http://" + authority)` would then throw on.
  it("passes exactly the targets and authorities that new URL() accepts", () => {
    const piece = fc.constantFrom("/", "\\", "\t", "\n", "[", "]", "a", "?", "#", "%", ":", "@", " ", ".", "..");
    const text = fc.array(piece, { maxLength: 8 }).map((p) => p.join(""));
    fc.assert(
      fc.property(text, fc.oneof(fc.constant("x"), text), (target, host) => {
        const req = { headers: { host }, url: target, socket: { localAddress: "127.0.0.1", localPort: 1 } } as unknown as HttpRequest;
        const problem = prepareRequestHead(req);
        const base = `http://${host === "" ? "127.0.0.1:1" : host}`;
        const ok = URL.canParse(base) && URL.canParse(target, base);
        expect(problem === undefined, `target ${JSON.stringify(target)} host ${JSON.stringify(host)}: ${problem}`).toBe(ok);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe("a request handler that throws", () => {
  const errors: string[] = [];
  let server: OnePortServer;
  let port: number;
  beforeAll(async () => {
    server = new OnePortServer({
      ...defaultConnectionLimits,
      handler: (req) => {
        if (req.url === "/sync") throw new Error("thrown synchronously");
        if (req.url === "/async") return Promise.reject(new Error("rejected")) as unknown as void;
        throw new Error(`unexpected ${req.url}`);
      },
      onError: (e, what) => errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`),
    });
    port = ((await server.listen(0, "127.0.0.1")) as AddressInfo).port;
  });
  afterAll(() => server.close(0));

  it("answers that request 500 and reports the error, over HTTP/1.1 and HTTP/2", async () => {
    for (const path of ["/sync", "/async"]) {
      const res = await rawHttp(port, `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toEqual({ error: "internal error" });
    }
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ":path": "/sync" });
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("error", reject);
        req.end();
      });
      expect(status).toBe(500);
    } finally {
      session.close();
    }
    expect(errors).toEqual(["handler: thrown synchronously", "handler: rejected", "handler: thrown synchronously"]);
  });
});

describe("listener errors", () => {
  it("a failed accept is reported, not thrown: Node emits it as the server's 'error'", async () => {
    const reported: string[] = [];
    const server = new OnePortServer({ ...defaultConnectionLimits, handler: () => undefined, onError: (e, what) => reported.push(`${what}: ${(e as Error).message}`) });
    await server.listen(0, "127.0.0.1");
    try {
      // What libuv hands Node when accept() fails for want of descriptors.
      const listener = (server as unknown as { tcp: net.Server }).tcp;
      expect(() => listener.emit("error", Object.assign(new Error("accept EMFILE"), { code: "EMFILE" }))).not.toThrow();
      expect(reported).toEqual(["accept: accept EMFILE"]);
    } finally {
      await server.close(0);
    }
  });

  it("logs failed accepts once per interval with the count, and every handler failure", () => {
    const lines: { msg: string; failures?: number }[] = [];
    const log = createLogger("error");
    log.error = ((fields: { failures?: number }, msg: string) => void lines.push({ msg, failures: fields.failures })) as typeof log.error;
    const clock = new ManualClock();
    const report = transportErrorLog(log, clock);
    const emfile = new Error("accept EMFILE");
    report(emfile, "accept");
    for (let i = 0; i < 50; i++) report(emfile, "accept");
    clock.advance(ACCEPT_ERROR_LOG_INTERVAL_MS);
    report(emfile, "accept");
    report(new Error("bug"), "handler");
    report(new Error("bug"), "handler");
    expect(lines).toEqual([
      { msg: "cannot accept connections", failures: 1 },
      { msg: "cannot accept connections", failures: 51 },
      { msg: "request handler failed; answered 500", failures: undefined },
      { msg: "request handler failed; answered 500", failures: undefined },
    ]);
  });
});
