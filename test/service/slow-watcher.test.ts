// A WatchLeases client over raw HTTP/2 that stops reading: HTTP/2 flow control then parks the
// server's writes, so the cut-off must not wait for the client's next read. The drop is counted at
// once; a client that reads again gets every event up to last_sequence and then SLOW_CONSUMER, and one
// that stays silent has its stream reset with ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED), long before the
// 30 s write-stall timeout.

import http2 from "node:http2";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/es/google/rpc/status_pb.js";
import { WatchLeasesRequestSchema, WatchLeasesResponseSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

const BUFFER = 20;

let s: TestServer;
let c: TestClient;

/** A gRPC WatchLeases call on its own HTTP/2 session, decoded as it arrives. */
class RawWatch {
  readonly session: http2.ClientHttp2Session;
  readonly stream: http2.ClientHttp2Stream;
  readonly sequences: number[] = [];
  trailers: http2.IncomingHttpHeaders | undefined;
  private pending = Buffer.alloc(0);
  readonly closed: Promise<void>;

  constructor(pool: string) {
    this.session = http2.connect(s.url);
    this.stream = this.session.request({
      ":method": "POST",
      ":path": "/tokenpool.v1.TokenService/WatchLeases",
      "content-type": "application/grpc",
      te: "trailers",
      "x-api-password": s.password,
    });
    const body = toBinary(WatchLeasesRequestSchema, create(WatchLeasesRequestSchema, { pool }));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length, 1);
    this.stream.end(Buffer.concat([head, body]));
    this.stream.on("data", (chunk: Buffer) => this.onData(chunk));
    this.stream.on("trailers", (t) => (this.trailers = t));
    this.closed = new Promise((resolve) => this.stream.on("close", () => resolve()));
    this.stream.on("error", () => undefined); // a reset is an outcome under test, read from rstCode
  }

  close(): void {
    this.session.destroy();
  }

  private onData(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) return;
      const message = fromBinary(WatchLeasesResponseSchema, this.pending.subarray(5, 5 + length));
      this.pending = this.pending.subarray(5 + length);
      if (message.kind.case === "event") this.sequences.push(Number(message.kind.value.sequence));
    }
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, withinMs = 5_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function dropped(): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("tokenpool_watch_dropped_total"));
  return Number(line?.split(" ").at(-1) ?? NaN);
}

let n = 0;
/**
 * A pool whose watcher gets one event per `poke()` and, on `flood()`, 6000 in bursts of 10: each burst
 * fits the subscriber buffer, so only a watcher whose transport stopped taking events falls behind.
 * 6000 events (~500 KB) are far beyond the HTTP/2 windows and Node's stream buffer.
 */
async function floodablePool(): Promise<{ pool: string; flood: () => Promise<void>; poke: () => Promise<void> }> {
  const pool = `slow${++n}`;
  await c.unary("createPool", { name: pool, initialTokens: 10 });
  const lease = (await c.unary("assignToken", { pool, owner: "x" })).lease as { token: string };
  const poke = async (): Promise<void> => void (await c.unary("keepAlive", { pool, tokens: [lease.token] }));
  const flood = async (): Promise<void> => {
    const burst = Array.from({ length: 10 }, () => lease.token);
    for (let i = 0; i < 600; i++) await c.unary("keepAlive", { pool, tokens: burst });
  };
  return { pool, flood, poke };
}

/** A watcher that has received its first event and then stopped reading, with the drop count before. */
async function pausedWatcher(): Promise<{ w: RawWatch; pool: string; flood: () => Promise<void>; dropsBefore: number }> {
  const { pool, flood, poke } = await floodablePool();
  const w = new RawWatch(pool);
  await until("the first event", async () => {
    await poke();
    return w.sequences.length > 0;
  }).catch((e: unknown) => {
    w.close();
    throw e;
  });
  w.stream.pause();
  return { w, pool, flood, dropsBefore: await dropped() };
}

/**
 * Both gRPC engines. connect-node parks its write on the stream, so a silent client is reset there;
 * grpc-js takes every message into nghttp2's queue, so the cut finds nothing parked: its status goes
 * out behind the unread messages, the drop is counted and the slot freed, and the stream stays until
 * its client goes away (README, "Two gRPC engines").
 */
for (const engine of ["connect", "grpc-js"] as const) {
  describe(`a WatchLeases client that stops reading (HTTP/2 flow control), ${engine} engine`, () => {
    beforeAll(async () => {
      s = await startTestServer("memory", ["--watch-buffer", String(BUFFER), "--grpc-engine", engine]);
      c = connectClient(s.url, s.password, "grpc-h2");
    });
    afterAll(async () => {
      c.close();
      await s.close();
    });

    if (engine === "connect") {
      it("is counted at once, and reset with ENHANCE_YOUR_CALM while it stays silent", async () => {
        const { w, flood, dropsBefore } = await pausedWatcher();
        try {
          const started = Date.now();
          await flood();
          await until("the drop to be counted", async () => (await dropped()) === dropsBefore + 1);
          await w.closed;
          expect(w.stream.rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
          // The flush grace, not the 30 s write-stall timeout.
          expect(Date.now() - started).toBeLessThan(15_000);
        } finally {
          w.close();
        }
      });
    } else {
      it("is counted at once and its stream slot freed while it stays silent", async () => {
        const { w, flood, dropsBefore } = await pausedWatcher();
        try {
          await flood();
          await until("the drop to be counted", async () => (await dropped()) === dropsBefore + 1);
          const streams = async (): Promise<number> => Number(/^tokenpool_watch_streams (\d+)/m.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1]);
          await until("the slot to be freed", async () => (await streams()) === 0);
        } finally {
          w.close();
        }
      });
    }

    it("gets every event up to last_sequence and then SLOW_CONSUMER when it reads again", async () => {
      const { w, pool, flood, dropsBefore } = await pausedWatcher();
      try {
        const flooding = flood();
        await until("the drop to be counted", async () => (await dropped()) === dropsBefore + 1);
        w.stream.resume(); // within the flush grace
        await w.closed;
        await flooding;
        expect(w.stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
        expect(w.trailers?.["grpc-status"]).toBe("8"); // RESOURCE_EXHAUSTED
        const status = fromBinary(StatusSchema, Buffer.from(String(w.trailers?.["grpc-status-details-bin"]), "base64"));
        const info = status.details.map((d) => fromBinary(ErrorInfoSchema, d.value)).find((i) => i.reason === "SLOW_CONSUMER");
        expect(info).toBeDefined();
        // Exactly where to resume: the last event received, with no gap before it.
        const last = w.sequences.at(-1)!;
        expect(Number(info!.metadata.last_sequence)).toBe(last);
        expect(w.sequences).toEqual(Array.from({ length: w.sequences.length }, (_, i) => w.sequences[0]! + i));
        // And well short of everything that was published: it was cut, not drained.
        const published = Number(((await c.unary("getPool", { name: pool })).pool as { sequence: string }).sequence);
        expect(last).toBeLessThan(published - BUFFER);
      } finally {
        w.close();
      }
    });
  });
}
