// Connection abuse against a tokenpool child process (so the RSS measured is the server's alone):
// slowloris heads, silent and idle connections, stream floods past the per-connection limit, HTTP/2
// rapid reset, a PING flood, a watcher that never reads, a connection flood and oversized headers.
// Each scenario checks that the abuser is cut off or limited as configured, that a well-behaved client's
// AssignToken+ReleaseToken latency stays near the baseline measured in the same test, and that the
// server's RSS stays bounded.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tokenClient, type TokenClient } from "../harness/token-client.js";
import { ROOT, startServer, type ServerProcess } from "../harness/server-process.js";
import { errorCodeOf, frame, FRAME, H2_ERROR, RawH2 } from "./h2-wire.js";
import { sleep } from "../harness/sleep.js";
import { quantile } from "../harness/stats.js";
import { jsonEnvelope } from "../harness/envelope.js";

const PASSWORD = "abuse-test-password";
/** Small limits so each scenario trips them within seconds; the defaults are the same code paths. */
const LIMIT = {
  headersTimeoutMs: 1_000,
  requestTimeoutMs: 2_000,
  idleTimeoutMs: 2_000,
  connectionStreams: 50,
  maxConnections: 300,
  writeStallMs: 2_000,
  maxStreams: 200,
  maxHeaderBytes: 16 * 1024,
};
/** Node sweeps HTTP/1.1 header/request deadlines periodically, not per socket: allowance on top. */
const SLACK_MS = 1_500;
/**
 * What one scenario may add to the server's RSS, from its own start. RSS is a high-water mark: V8 grows
 * its heap (young generation up to 3 x 16 MiB, a higher old-space limit) under the first flood that
 * allocates fast and keeps it, and glibc keeps freed arenas. Measured from one global baseline, that
 * one-off growth lands on whichever scenario comes first and the last ones inherit it (the same code
 * measured 70 to 111 MiB over the whole file on a loaded machine, before and after the grpc-js engine). Per scenario, a flood that buffers
 * without bound still shows; across the file, RUN_RSS_GROWTH_LIMIT catches a leak that adds up.
 */
const RSS_GROWTH_LIMIT = 100 * 1024 * 1024;
const RUN_RSS_GROWTH_LIMIT = 192 * 1024 * 1024;
const SERVICE = "/tokenpool.v1.TokenService";


let server: ServerProcess;
let port: number;
/** Setup and event generation from the test process. */
let setup: TokenClient;
let good: GoodClient;
let rssBaseline = 0;
/** RSS when the running scenario started. */
let rssAtScenarioStart = 0;
const rssAfter: Record<string, number> = {};

function serverRss(): number {
  const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!kb) throw new Error("no VmRSS in /proc status");
  return Number(kb[1]) * 1024;
}

/** Sum of a metric's series on /metrics, optionally only those whose labels contain `having`. */
async function metric(name: string, having = ""): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if ((line.startsWith(`${name} `) && having === "") || (line.startsWith(`${name}{`) && line.includes(having))) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      found = true;
    }
  }
  // A labelled counter has no series until first incremented.
  if (!found && having === "") throw new Error(`metric ${name} not exported`);
  return sum;
}

interface Round {
  /** Wall-clock start and end (ms), comparable across processes. */
  readonly start: number;
  readonly end: number;
  readonly ms: number;
}

/** The well-behaved client (test/hardening/good-client.ts), running rounds in its own process throughout. */
class GoodClient {
  readonly rounds: Round[] = [];
  readonly errors: string[] = [];

  private constructor(private readonly child: ChildProcess) {}

  static start(url: string): GoodClient {
    const child = spawn(process.execPath, ["--import", "tsx", "test/hardening/good-client.ts", url, PASSWORD, "good"], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "inherit"],
    });
    const client = new GoodClient(child);
    let partial = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line.startsWith("ERR ")) client.errors.push(line);
        else {
          const [start, end, ms] = line.split(" ").map(Number);
          client.rounds.push({ start: start!, end: end!, ms: ms! });
        }
      }
    });
    return client;
  }

  /** Waits for `n` rounds started at or after `since` (wall clock); returns them. */
  async roundsSince(since: number, n: number, timeoutMs = 30_000): Promise<Round[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const rounds = this.rounds.filter((r) => r.start >= since);
      if (rounds.length >= n) return rounds;
      if (Date.now() > until || this.child.exitCode !== null) throw new Error(`good client: ${rounds.length} of ${n} rounds; errors: ${this.errors.slice(-3).join(" | ")}`);
      await sleep(20);
    }
  }

  stop(): void {
    this.child.stdin?.end();
    this.child.kill();
  }
}

/** The good client's round latencies right now, before the abuse starts. */
async function baseline(rounds = 30): Promise<number[]> {
  return (await good.roundsSince(Date.now(), rounds)).map((r) => r.ms);
}

interface UnderAbuse<T> {
  readonly result: T;
  /** Latencies of the good client's rounds that overlapped the abuse. */
  readonly during: number[];
  /** Its failed rounds meanwhile. */
  readonly errors: string[];
}

async function underAbuse<T>(abuse: () => Promise<T>): Promise<UnderAbuse<T>> {
  const from = Date.now();
  const errorsBefore = good.errors.length;
  const result = await abuse();
  const to = Date.now();
  // A round still in flight when the abuse ended counts too: wait for the first one after it.
  await good.roundsSince(to, 1);
  const during = good.rounds.filter((r) => r.start < to && r.end > from).map((r) => r.ms);
  return { result, during, errors: good.errors.slice(errorsBefore) };
}

function expectServedNormally(scenario: string, base: readonly number[], { during, errors }: UnderAbuse<unknown>): void {
  const b = quantile(base, 0.5);
  const d = quantile(during, 0.5);
  console.log(
    `${scenario}: good client assign+release p50 ${b.toFixed(1)} ms before, ${d.toFixed(1)} ms during ` +
      `(p99 ${quantile(during, 0.99).toFixed(1)} ms, ${during.length} rounds)`,
  );
  expect(errors).toEqual([]);
  expect(during.length).toBeGreaterThanOrEqual(10);
  expect(d).toBeLessThan(5 * b + 50);
}

function expectRssBounded(scenario: string): void {
  const rss = serverRss();
  rssAfter[scenario] = rss;
  console.log(
    `${scenario}: server RSS ${(rssBaseline / 2 ** 20).toFixed(0)} MiB after warm-up, ` +
      `${(rssAtScenarioStart / 2 ** 20).toFixed(0)} MiB when the scenario started, ${(rss / 2 ** 20).toFixed(0)} MiB now`,
  );
  expect(rss - rssAtScenarioStart).toBeLessThan(RSS_GROWTH_LIMIT);
}

function rawSocket(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

interface Closed {
  /** From connect (or from the given start) to the server closing the socket; Infinity if it never did. */
  readonly afterMs: number;
  readonly received: string;
}

/** Waits for the server to close the socket (reading whatever it sends), up to a safety limit. */
function closedBy(socket: net.Socket, startedAt = performance.now(), limitMs = 15_000): Promise<Closed> {
  let received = "";
  socket.setEncoding("latin1");
  socket.on("data", (d: string) => (received += d));
  socket.on("error", () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ afterMs: Infinity, received });
    }, limitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ afterMs: performance.now() - startedAt, received });
    });
  });
}

/** Sends `text` one byte per `everyMs` until the server hangs up. */
async function trickle(text: string, everyMs: number): Promise<Closed & { readonly sent: number }> {
  const socket = await rawSocket();
  const closed = closedBy(socket);
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= text.length) return;
    socket.write(text[sent++]!);
  }, everyMs);
  const result = await closed;
  clearInterval(timer);
  return { ...result, sent };
}

/** Request headers of a Connect call (streaming content type unless told otherwise). */
const connectJson = (method: string, contentType = "application/connect+json"): (readonly [string, string])[] => [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", `${SERVICE}/${method}`],
  [":authority", "127.0.0.1"],
  ["content-type", contentType],
  ["x-api-password", PASSWORD],
];

interface Flood {
  readonly kind: "node" | "raw";
  readonly sent: number;
  /** Error code of the first GOAWAY the client saw. */
  readonly goaway: number | undefined;
  readonly closed: boolean;
}

function settingsOf(h2: RawH2): Map<number, number> {
  const out = new Map<number, number>();
  const f = h2.frames.find((x) => x.type === FRAME.SETTINGS && !(x.flags & 0x1));
  for (let at = 0; f && at + 6 <= f.payload.length; at += 6) out.set(f.payload.readUInt16BE(at), f.payload.readUInt32BE(at + 2));
  return out;
}

/**
 * A raw HTTP/2 client past the handshake: the listener's early SETTINGS come first, the serving
 * server's own only once the first request has picked that server (see README, two gRPC engines),
 * so stream 1 is a complete request and the client then waits for, and acknowledges, the second.
 */
async function servingSettingsAcked(port: number): Promise<RawH2> {
  const c = await RawH2.connect(port);
  await c.until((f) => f.some((x) => x.type === FRAME.SETTINGS && !(x.flags & 0x1)), 5_000);
  c.headers(1, connectJson("GetPool", "application/json"), false);
  c.data(1, Buffer.from('{"name":"good"}'), true);
  await c.until((f) => f.filter((x) => x.type === FRAME.SETTINGS && !(x.flags & 0x1)).length >= 2, 5_000);
  await sleep(100);
  return c;
}

describe("connection abuse", () => {
  beforeAll(async () => {
    server = await startServer([
      "--store", "memory",
      "--api-password", PASSWORD,
      "--total-tokens", "0",
      "--log-level", "info",
      "--headers-timeout", String(LIMIT.headersTimeoutMs / 1000),
      "--request-timeout", String(LIMIT.requestTimeoutMs / 1000),
      "--idle-timeout", String(LIMIT.idleTimeoutMs / 1000),
      "--max-connection-streams", String(LIMIT.connectionStreams),
      "--max-connections", String(LIMIT.maxConnections),
      "--write-stall-timeout", String(LIMIT.writeStallMs / 1000),
      // Far more than the firehose below sends: its watchers meet the write-stall guard, not the
      // slow-consumer cut (test/service/slow-watcher.test.ts covers that one).
      "--watch-buffer", "1000000",
      "--max-streams", String(LIMIT.maxStreams),
      "--max-header-bytes", String(LIMIT.maxHeaderBytes),
    ]);
    port = Number(new URL(server.url).port);
    setup = tokenClient(server.url, PASSWORD);
    await setup.createPool({ name: "good", initialTokens: 8 });
    await setup.createPool({ name: "quiet" });
    good = GoodClient.start(server.url);
    // Warm up JIT and buffers before the baseline, so later growth is the abuse's.
    await good.roundsSince(0, 300, 60_000);
    rssBaseline = serverRss();
  }, 90_000);

  beforeEach(() => {
    rssAtScenarioStart = serverRss();
  });

  afterAll(async () => {
    good?.stop();
    if (!server) return;
    const growth = serverRss() - rssBaseline;
    const code = await server.stop();
    // The server outlived every scenario and shut down cleanly.
    expect(code).toBe(0);
    console.log(`server RSS by scenario (MiB): ${JSON.stringify(Object.fromEntries(Object.entries(rssAfter).map(([k, v]) => [k, Math.round(v / 2 ** 20)])))}`);
    expect(growth).toBeLessThan(RUN_RSS_GROWTH_LIMIT);
  }, 30_000);

  it("slowloris: a request head or HTTP/2 preface trickled byte by byte is cut at the headers timeout", async () => {
    const base = await baseline();
    const head = `POST ${SERVICE}/AssignToken HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${"a".repeat(400)}\r\n`;
    const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const abused = await underAbuse(() =>
      Promise.all([
        ...Array.from({ length: 20 }, () => trickle(head, 50)),
        ...Array.from({ length: 10 }, () => trickle(preface, 100)),
      ]),
    );
    const { result } = abused;
    const h1 = result.slice(0, 20);
    const h2 = result.slice(20);
    for (const r of h1) {
      expect(r.afterMs).toBeGreaterThanOrEqual(LIMIT.headersTimeoutMs - 100);
      expect(r.afterMs).toBeLessThan(LIMIT.headersTimeoutMs + SLACK_MS);
      // Well before the whole head was out: the deadline, not the client, ended it.
      expect(r.sent).toBeLessThan(head.length);
      expect(r.received).toMatch(/^HTTP\/1\.1 408 /);
    }
    for (const r of h2) {
      expect(r.afterMs).toBeLessThan(LIMIT.headersTimeoutMs + SLACK_MS);
      expect(r.sent).toBeLessThan(preface.length);
    }
    expectServedNormally("slowloris", base, abused);
    expectRssBounded("slowloris");
  }, 60_000);

  it("idle and silent connections are closed: no bytes, idle keep-alive, idle HTTP/2 session, unfinished request", async () => {
    const base = await baseline();
    const abused = await underAbuse(async () => {
      // Connects and never says a word: the protocol sniff gives up at the headers timeout.
      const silent = Promise.all(Array.from({ length: 20 }, async () => closedBy(await rawSocket())));
      // One request, then nothing: the keep-alive idle timeout.
      const keepAlive = Promise.all(
        Array.from({ length: 10 }, async () => {
          const s = await rawSocket();
          const closed = closedBy(s);
          s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
          return closed;
        }),
      );
      // Headers, then a body that never arrives: the request timeout (HTTP/1.1). With credentials: one
      // without is answered 401 from its headers at once (auth-before-body.test.ts).
      const unfinished = Promise.all(
        Array.from({ length: 10 }, async () => {
          const s = await rawSocket();
          const closed = closedBy(s);
          s.write(`POST ${SERVICE}/GetPool HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-password: ${PASSWORD}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"na`);
          return closed;
        }),
      );
      // HTTP/2: a session with no streams, and one whose only stream never sends its body.
      const h2 = Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const started = performance.now();
          const c = await RawH2.connect(port);
          if (i % 2 === 1) c.headers(1, connectJson("GetPool"), false);
          await c.until((f) => f.some((x) => x.type === FRAME.GOAWAY), 15_000);
          const goawayMs = performance.now() - started;
          await Promise.race([c.closed, sleep(15_000)]);
          const closedMs = performance.now() - started;
          c.destroy();
          return { withStream: i % 2 === 1, goawayMs, closedMs, goaway: c.frames.find((f) => f.type === FRAME.GOAWAY) };
        }),
      );
      return { silent: await silent, keepAlive: await keepAlive, unfinished: await unfinished, h2: await h2 };
    });
    const { result } = abused;
    for (const r of result.silent) {
      expect(r.afterMs).toBeGreaterThanOrEqual(LIMIT.headersTimeoutMs - 100);
      expect(r.afterMs).toBeLessThan(LIMIT.headersTimeoutMs + SLACK_MS);
    }
    for (const r of result.keepAlive) {
      expect(r.received).toMatch(/^HTTP\/1\.1 200 /);
      expect(r.afterMs).toBeGreaterThanOrEqual(LIMIT.idleTimeoutMs - 100);
      expect(r.afterMs).toBeLessThan(LIMIT.idleTimeoutMs + SLACK_MS);
    }
    for (const r of result.unfinished) {
      expect(r.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(r.afterMs).toBeGreaterThanOrEqual(LIMIT.requestTimeoutMs - 100);
      expect(r.afterMs).toBeLessThan(LIMIT.requestTimeoutMs + SLACK_MS);
    }
    for (const r of result.h2) {
      // A polite GOAWAY after one idle period; a stream that never completes gets one more, then the cut.
      expect(r.goaway && errorCodeOf(r.goaway)).toBe(H2_ERROR.NO_ERROR);
      expect(r.goawayMs).toBeGreaterThanOrEqual(LIMIT.idleTimeoutMs - 100);
      expect(r.goawayMs).toBeLessThan(LIMIT.idleTimeoutMs + SLACK_MS);
      expect(r.closedMs).toBeLessThan((r.withStream ? 2 : 1) * LIMIT.idleTimeoutMs + SLACK_MS);
    }
    expectServedNormally("idle", base, abused);
    expectRssBounded("idle");
  }, 60_000);

  it("a client opening streams until the limit: the extra ones are refused, and a flood of refusals ends the connection", async () => {
    const base = await baseline();
    const streamsBefore = await metric("tokenpool_watch_streams");
    const abused = await underAbuse(async () => {
      // A raw client ignores SETTINGS_MAX_CONCURRENT_STREAMS; each stream waits for a body never sent.
      // Sent before it has acknowledged the server's SETTINGS, the streams past the limit are refused
      // one by one (REFUSED_STREAM, safe to retry)...
      const c = await RawH2.connect(port);
      const open = LIMIT.connectionStreams + 10;
      for (let i = 0; i < open; i++) c.headers(1 + 2 * i, connectJson("WatchLeases"), false);
      await c.until((f) => f.filter((x) => x.type === FRAME.RST_STREAM).length >= 10, 5_000);
      await sleep(200);
      const advertised = settingsOf(c).get(0x3);
      const refused = c.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => ({ stream: f.stream, code: errorCodeOf(f) }));
      const aliveAfterRefusals = !c.socket.destroyed && !c.frames.some((f) => f.type === FRAME.GOAWAY);
      // ...and a client that keeps pushing past the limit loses the connection.
      for (let i = open; i < open + 200 && !c.socket.destroyed; i++) c.headers(1 + 2 * i, connectJson("WatchLeases"), false);
      await Promise.race([c.closed, sleep(5_000)]);
      const goaway = c.frames.find((f) => f.type === FRAME.GOAWAY);
      const flood = { advertised, refused, aliveAfterRefusals, goaway: goaway && errorCodeOf(goaway), closed: c.socket.destroyed };
      c.destroy();

      // Once the client has acknowledged the limit, one stream too many is a connection error at once.
      const acked = await servingSettingsAcked(port);
      for (let i = 1; i <= LIMIT.connectionStreams + 1; i++) acked.headers(1 + 2 * i, connectJson("WatchLeases"), false);
      await Promise.race([acked.closed, sleep(5_000)]);
      const ackedGoaway = acked.frames.find((f) => f.type === FRAME.GOAWAY);
      const overAcked = { goaway: ackedGoaway && errorCodeOf(ackedGoaway), closed: acked.socket.destroyed };
      acked.destroy();

      // node:http2 honours the limit itself: 120 WatchLeases on one session, at most 50 open at once.
      const session = http2.connect(server.url);
      session.on("error", () => undefined);
      const body = jsonEnvelope({ pool: "quiet" });
      const requests = Array.from({ length: 120 }, () => {
        const req = session.request({ ":method": "POST", ":path": `${SERVICE}/WatchLeases`, "content-type": "application/connect+json", "x-api-password": PASSWORD });
        req.on("error", () => undefined);
        req.end(body);
        return req;
      });
      let peak = 0;
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        peak = Math.max(peak, (await metric("tokenpool_watch_streams")) - streamsBefore);
      }
      // Across connections the WatchLeases budget (--max-streams) applies: fill it, then one more.
      const others = Array.from({ length: 4 }, () => http2.connect(server.url).on("error", () => undefined));
      for (const s of others) {
        for (let i = 0; i < LIMIT.connectionStreams; i++) {
          s.request({ ":method": "POST", ":path": `${SERVICE}/WatchLeases`, "content-type": "application/connect+json", "x-api-password": PASSWORD })
            .on("error", () => undefined)
            .end(body);
        }
      }
      for (let i = 0; i < 50 && (await metric("tokenpool_watch_streams")) < LIMIT.maxStreams; i++) await sleep(100);
      const full = await metric("tokenpool_watch_streams");
      const extra = await fetch(`${server.url}${SERVICE}/WatchLeases`, {
        method: "POST",
        headers: { "content-type": "application/connect+json", "x-api-password": PASSWORD },
        body,
      });
      const extraBody = await extra.text();
      for (const r of requests) r.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
      for (const s of others) s.destroy();
      return { flood, overAcked, peak, full, extra: { status: extra.status, body: extraBody } };
    });
    const { result } = abused;
    const { flood } = result;
    console.log(`stream limit: ${JSON.stringify({ ...flood, refused: flood.refused.length })}, over acked: ${JSON.stringify(result.overAcked)}`);
    expect(flood.advertised).toBe(LIMIT.connectionStreams);
    // Exactly the streams past the limit were refused, with REFUSED_STREAM (safe for a client to retry).
    expect(flood.refused).toEqual(Array.from({ length: 10 }, (_, i) => ({ stream: 1 + 2 * (LIMIT.connectionStreams + i), code: H2_ERROR.REFUSED_STREAM })));
    expect(flood.aliveAfterRefusals).toBe(true);
    // The server ends the connection with a GOAWAY error (which the teardown may overtake: the raw
    // client is still writing, so the server's close can arrive as a reset that drops unread data).
    for (const ended of [flood, result.overAcked]) {
      expect(ended.closed).toBe(true);
      if (ended.goaway !== undefined) expect(ended.goaway).not.toBe(H2_ERROR.NO_ERROR);
    }
    expect(result.peak).toBe(LIMIT.connectionStreams);
    expect(result.full).toBe(LIMIT.maxStreams);
    expect(result.extra.status).toBe(200); // a Connect stream reports its error in the end frame
    expect(result.extra.body).toContain("resource_exhausted");
    expect(result.extra.body).toContain("TOO_MANY_STREAMS");
    // Every one of those streams was released.
    for (let i = 0; i < 50 && (await metric("tokenpool_watch_streams")) > streamsBefore; i++) await sleep(100);
    expect(await metric("tokenpool_watch_streams")).toBe(streamsBefore);
    expectServedNormally("stream limit", base, abused);
    expectRssBounded("stream limit");
  }, 60_000);

  it("HTTP/2 rapid reset: floods of requests cancelled at once are sent away with ENHANCE_YOUR_CALM, and the calls never run", async () => {
    const base = await baseline();
    const getPoolsBefore = await metric("tokenpool_rpc_total", 'method="GetPool"');
    const request = JSON.stringify({ name: "good" });
    /** Both attackers give up after this many streams on one connection: reaching it means nobody cut them. */
    const FLOOD_CAP = 20_000;

    /** node:http2, as an attacker would script it: a whole request, then RST_STREAM(CANCEL), in a tight loop. */
    const viaNode = async (): Promise<Flood> => {
      const session = http2.connect(server.url);
      let goaway: number | undefined;
      session.on("goaway", (code) => (goaway ??= code));
      session.on("error", () => undefined);
      await new Promise<void>((resolve) => session.once("connect", () => resolve()));
      let sent = 0;
      while (sent < FLOOD_CAP && !session.closed && !session.destroyed) {
        const s = session.request({ ":method": "POST", ":path": `${SERVICE}/GetPool`, "content-type": "application/json", "x-api-password": PASSWORD });
        s.on("error", () => undefined);
        s.end(request);
        s.close(http2.constants.NGHTTP2_CANCEL);
        if (++sent % 100 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.race([new Promise((r) => session.once("close", r)), sleep(5_000)]);
      const flood: Flood = { kind: "node", sent, goaway, closed: session.closed || session.destroyed };
      session.destroy();
      return flood;
    };
    /** The raw form: HEADERS + DATA (a whole request) immediately followed by RST_STREAM. */
    const raw = async (): Promise<Flood> => {
      const c = await RawH2.connect(port);
      const body = Buffer.from(request);
      let sent = 0;
      while (sent < FLOOD_CAP && !c.socket.destroyed && !c.frames.some((f) => f.type === FRAME.GOAWAY)) {
        const id = 1 + 2 * sent++;
        c.headers(id, connectJson("GetPool", "application/json"), false);
        c.data(id, body, true);
        c.rst(id, H2_ERROR.CANCEL);
        if (sent % 100 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.race([c.closed, sleep(5_000)]);
      const g = c.frames.find((f) => f.type === FRAME.GOAWAY);
      c.destroy();
      return { kind: "raw", sent, goaway: g && errorCodeOf(g), closed: c.socket.destroyed };
    };

    // A determined attacker reconnects and starts over: keep it up for a few seconds.
    const abused = await underAbuse(async () => {
      const floods: Flood[] = [];
      for (const until = performance.now() + 3_000; performance.now() < until; ) floods.push(await viaNode(), await raw());
      return floods;
    });
    const floods = abused.result;
    const ran = (await metric("tokenpool_rpc_total", 'method="GetPool"')) - getPoolsBefore;
    const sent = floods.reduce((n, f) => n + f.sent, 0);
    const ends = floods.map((f) => `${f.kind}:${f.sent}:${f.goaway ?? "-"}`).join(" ");
    console.log(`rapid reset: ${floods.length} floods, ${sent} streams sent, GetPool calls that ran: ${ran}; kind:sent:GOAWAY code ${ends}`);
    // Streams cancelled at birth are never dispatched; past 100 a second the connection is sent away
    // (one-port.ts). Without that, Node's own limit took 1,000 to 20,000 streams and seconds of CPU.
    for (const f of floods) {
      expect(f.closed).toBe(true);
      // The server cut the flood before the attacker gave up. How many streams the client wrote before
      // it noticed depends on how starved both sides are of CPU (CI shares two cores with other test
      // files: one CI run saw a node:http2 client write 5,200), so the bound on the server's side is
      // `ran` below, not this count.
      expect(f.sent).toBeLessThan(FLOOD_CAP);
      // The raw client keeps writing until it notices: the server's close may overtake the GOAWAY.
      // When the server is starved of CPU, one read can carry hundreds of streams whose objects JS has
      // not yet freed; they count against the stream limit, and Node's own guard (100 refused streams)
      // may end the session first (node_http2.cc: a refused stream past maxSessionRejectedStreams is a
      // callback failure, and nghttp2 sends GOAWAY with INTERNAL_ERROR). Either way the flood is sent away.
      if (f.kind === "node" || f.goaway !== undefined) expect([H2_ERROR.ENHANCE_YOUR_CALM, H2_ERROR.INTERNAL_ERROR]).toContain(f.goaway);
    }
    // tokenpool's own guard is the one that acts when the server keeps up.
    expect(floods.some((f) => f.goaway === H2_ERROR.ENHANCE_YOUR_CALM)).toBe(true);
    expect(ran).toBeLessThan(sent / 10);
    expectServedNormally("rapid reset", base, abused);
    expectRssBounded("rapid reset");
  }, 60_000);

  it("HTTP/2 PING flood from a client that never reads the acknowledgements is absorbed or cut, and costs others nothing", async () => {
    const base = await baseline();
    const ping = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(FRAME.PING, 0, 0, Buffer.alloc(8, i % 256))));
    const flood = async (): Promise<number> => {
      const c = await RawH2.connect(port);
      await c.until((f) => f.some((x) => x.type === FRAME.SETTINGS), 5_000);
      c.socket.pause(); // the server's PING ACKs pile up on its side
      let sent = 0;
      while (sent < 200_000 && !c.socket.destroyed) {
        sent += 1000;
        if (!c.socket.write(ping)) await Promise.race([new Promise((r) => c.socket.once("drain", r)), c.closed]);
      }
      c.destroy();
      return sent;
    };
    // A few seconds of it, reconnecting each time the server hangs up.
    const abused = await underAbuse(async () => {
      const floods: number[] = [];
      for (const until = performance.now() + 2_000; performance.now() < until; ) floods.push(await flood());
      return floods;
    });
    // nghttp2 answers PINGs without reaching JavaScript; when the ACKs cannot be sent (the kernel
    // buffers are full) and 1000 pile up, it ends the session (CVE-2019-9512). Until then the flood is
    // absorbed: what matters is that nobody else notices and memory stays put.
    const cut = abused.result.filter((sent) => sent < 200_000).length;
    const written = abused.result.reduce((a, b) => a + b, 0);
    console.log(`ping flood: ${written} PING frames written over ${abused.result.length} connections, ${cut} cut by the server`);
    expect(written).toBeGreaterThan(100_000);
    expectServedNormally("ping flood", base, abused);
    expectRssBounded("ping flood");
  }, 60_000);

  it("a WatchLeases client that never reads is cut once its writes stall, over HTTP/2 and HTTP/1.1", async () => {
    // 500 held tokens with long ids and owners: each KeepAlive of all of them is ~300 KB of events.
    const ids = Array.from({ length: 500 }, (_, i) => `firehose-${String(i).padStart(4, "0")}-${"x".repeat(110)}`);
    await setup.createPool({ name: "firehose", maxTokens: 1000 });
    await setup.generateTokens({ pool: "firehose", tokens: ids });
    for (let i = 0; i < ids.length; i++) await setup.assignToken({ pool: "firehose", owner: `holder-${"o".repeat(240)}` });
    const base = await baseline();
    const streamsBefore = await metric("tokenpool_watch_streams");
    const body = jsonEnvelope({ pool: "firehose" });

    const session = http2.connect(server.url);
    session.on("error", () => undefined);
    const h2 = session.request({ ":method": "POST", ":path": `${SERVICE}/WatchLeases`, "content-type": "application/connect+json", "x-api-password": PASSWORD });
    h2.on("error", () => undefined);
    h2.end(body);
    h2.pause(); // never reads: the stream's flow-control window fills, then the server's buffer
    const h2Closed = new Promise<number>((resolve) => h2.once("close", () => resolve(h2.rstCode ?? -1)));

    const h1 = await rawSocket();
    h1.on("error", () => undefined);
    h1.write(
      `POST ${SERVICE}/WatchLeases HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/connect+json\r\n` +
        `x-api-password: ${PASSWORD}\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    h1.write(body);
    h1.pause(); // never reads: the kernel buffers fill, then the server's
    for (let i = 0; i < 50 && (await metric("tokenpool_watch_streams")) < streamsBefore + 2; i++) await sleep(50);
    expect(await metric("tokenpool_watch_streams")).toBe(streamsBefore + 2);

    let rounds = 0;
    let peakRss = 0;
    const abused = await underAbuse(async () => {
      // Generate events until the server has let go of both watchers (or give up after 30 s).
      const until = performance.now() + 30_000;
      while (performance.now() < until && (await metric("tokenpool_watch_streams")) > streamsBefore) {
        await setup.keepAlive({ pool: "firehose", tokens: ids });
        rounds++;
        peakRss = Math.max(peakRss, serverRss());
      }
    });
    expect(await metric("tokenpool_watch_streams")).toBe(streamsBefore);
    // HTTP/2: the stream is reset with CANCEL (the session, quiet from then on, later meets the idle timeout).
    expect(await Promise.race([h2Closed, sleep(5_000).then(() => "still open")])).toBe(http2.constants.NGHTTP2_CANCEL);
    // HTTP/1.1: the connection was closed mid-response (no final chunk) once we look at it again.
    let tail = "";
    h1.setEncoding("latin1");
    h1.on("data", (d: string) => (tail = (tail + d).slice(-16)));
    const h1Closed = new Promise<void>((resolve) => h1.once("close", () => resolve()));
    h1.resume();
    expect(await Promise.race([h1Closed.then(() => "closed"), sleep(10_000).then(() => "still open")])).toBe("closed");
    expect(tail.endsWith("0\r\n\r\n")).toBe(false);
    session.destroy();
    console.log(`never-reading watchers: cut after ${rounds} KeepAlive rounds (${rounds * ids.length} events); peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    expect(peakRss - rssAtScenarioStart).toBeLessThan(RSS_GROWTH_LIMIT);
    expectServedNormally("never-reading watcher", base, abused);
    expectRssBounded("never-reading watcher");
  }, 90_000);

  it("a connection flood past --max-connections is closed on accept while established clients carry on", async () => {
    const base = await baseline();
    const abused = await underAbuse(async () => {
      const attempts = LIMIT.maxConnections + 100;
      const started = performance.now();
      const sockets = await Promise.all(
        Array.from({ length: attempts }, () =>
          rawSocket().then(
            (s) => closedBy(s, started),
            () => Promise.resolve({ afterMs: 0, received: "" }),
          ),
        ),
      );
      return sockets;
    });
    // Dropped on accept: well before the headers timeout could have closed them.
    const { result } = abused;
    const dropped = result.filter((r) => r.afterMs < LIMIT.headersTimeoutMs / 2).length;
    expect(dropped).toBeGreaterThanOrEqual(100);
    // The rest were held to the limit and then cut by the headers timeout; none outlived it.
    for (const r of result) expect(r.afterMs).toBeLessThan(LIMIT.headersTimeoutMs + SLACK_MS + 1_000);
    console.log(`connection flood: ${dropped} of ${result.length} dropped on accept`);
    expectServedNormally("connection flood", base, abused);
    expectRssBounded("connection flood");
  }, 60_000);

  it("oversized request headers are refused: 431 on HTTP/1.1, ENHANCE_YOUR_CALM on HTTP/2", async () => {
    const big = "b".repeat(LIMIT.maxHeaderBytes + 4096);
    const s = await rawSocket();
    const closed = closedBy(s);
    s.write(`POST ${SERVICE}/GetPool HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${big}\r\ncontent-length: 2\r\n\r\n{}`);
    expect((await closed).received).toMatch(/^HTTP\/1\.1 431 /);

    // The advertised limit binds once the client has acknowledged the server's SETTINGS (RFC 9113 §6.5.3).
    const c = await servingSettingsAcked(port);
    expect(settingsOf(c).get(0x6)).toBe(LIMIT.maxHeaderBytes);
    c.headers(3, [...connectJson("GetPool"), ["x-big", big]], true);
    await c.until((f) => f.some((x) => (x.type === FRAME.RST_STREAM && x.stream === 3) || x.type === FRAME.GOAWAY), 5_000);
    const rst = c.frames.find((f) => f.type === FRAME.RST_STREAM && f.stream === 3);
    expect(rst && errorCodeOf(rst)).toBe(H2_ERROR.ENHANCE_YOUR_CALM);
    c.destroy();
    expectRssBounded("oversized headers");
  }, 30_000);
});
