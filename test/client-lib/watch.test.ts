// client.watch against a real server process: it resumes after a dropped connection with exactly
// the events it had not delivered (no gap, no repeat), even when it broke before its first event on a
// pool at sequence 0 (network drop, and kill -9 + restart on lmdb), and says SEQUENCE_COMPACTED when
// they are gone.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../harness/ports.js";
import type { ServerProcess } from "../harness/server-process.js";
import { LeaseEventType, SequenceCompactedError, type LeaseEvent, type TokenPoolClient } from "../../src/client/node.js";
import { client, freshPool, serverProcess, sleep } from "./fixtures.js";
import { startStallProxy, type StallProxy } from "./stall-proxy.js";

let s: ServerProcess;
let admin: TokenPoolClient;
let proxy: StallProxy;
beforeAll(async () => {
  s = await serverProcess(["--event-ring", "20"]);
  admin = client(s.url);
  proxy = await startStallProxy(Number(new URL(s.url).port));
});
afterAll(async () => {
  await proxy?.close();
  await admin?.close();
  await s?.stop();
});

/** Until the server counts `n` open WatchLeases streams (its watch_streams gauge). */
async function streamsOpen(url: string, n: number): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (new RegExp(`^tokenpool_watch_streams ${n}$`, "m").test(text)) return;
    if (Date.now() > until) throw new Error(`watch_streams never reached ${n}`);
    await sleep(50);
  }
}

/** Collects the watch's events into `into` until `count` of them arrived. */
function collect(c: TokenPoolClient, pool: string, into: LeaseEvent[], count: number, reconnects: unknown[]): Promise<void> {
  return (async () => {
    for await (const e of c.watch(pool, { onReconnect: (err) => reconnects.push(err) })) {
      into.push(e);
      if (into.length === count) break;
    }
  })();
}

describe("client.watch", () => {
  it("started on a pool at sequence 0, misses nothing when the connection drops before its first event", async () => {
    const pool = await freshPool(admin, 0, 5000);
    expect((await admin.service.getPool({ name: pool })).pool?.sequence).toBe(0n);
    const c = client(proxy.url, { protocol: "connect" });
    const events: LeaseEvent[] = [];
    const reconnects: unknown[] = [];
    const done = collect(c, pool, events, 3, reconnects);
    await streamsOpen(s.url, 1);
    // Dropped and held off: the reconnect reaches the server only after the events happened.
    proxy.stall();
    proxy.dropAll();
    for (let i = 0; i < 3; i++) await admin.service.generateTokens({ pool, tokens: [`g${i}`] });
    await sleep(300);
    proxy.resume();
    await done;
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(events.map((e) => [e.sequence, e.token])).toEqual([
      [1n, "g0"],
      [2n, "g1"],
      [3n, "g2"],
    ]);
    await c.close();
  });

  it("started on a pool at sequence 0, misses nothing across a kill -9 and restart (lmdb)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokenpool-watch-"));
    const args = ["--store", "lmdb", "--data-dir", dir, "--port", String(await freePort())];
    let lmdb = await serverProcess(args);
    const c = client(lmdb.url, { protocol: "grpc" });
    try {
      const pool = await freshPool(c, 0, 5000);
      const events: LeaseEvent[] = [];
      const reconnects: unknown[] = [];
      const done = collect(c, pool, events, 2, reconnects);
      await streamsOpen(lmdb.url, 1);
      await lmdb.kill9();
      lmdb = await serverProcess(args);
      // Right after the restart, before the watch's backoff brings it back.
      const restarted = client(lmdb.url);
      await restarted.service.generateTokens({ pool, tokens: ["after-restart-1", "after-restart-2"] });
      await restarted.close();
      await done;
      expect(reconnects.length).toBeGreaterThanOrEqual(1);
      expect(events.map((e) => [e.sequence, e.token])).toEqual([
        [1n, "after-restart-1"],
        [2n, "after-restart-2"],
      ]);
    } finally {
      await c.close();
      await lmdb.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("resumes after a dropped connection from the last delivered sequence", async () => {
    const pool = await freshPool(admin, 0, 5000);
    const c = client(proxy.url, { protocol: "connect" });
    const reconnects: unknown[] = [];
    const events: LeaseEvent[] = [];
    const done = (async () => {
      for await (const e of c.watch(pool, { onReconnect: (err) => reconnects.push(err) })) {
        events.push(e);
        if (events.length === 10) break;
      }
    })();
    await sleep(300);
    for (let i = 0; i < 4; i++) await admin.service.generateTokens({ pool, tokens: [`a${i}`] });
    while (events.length < 4) await sleep(20);
    proxy.dropAll();
    for (let i = 0; i < 6; i++) await admin.service.generateTokens({ pool, tokens: [`b${i}`] }); // while it is away
    await done;
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(events.map((e) => e.type)).toEqual(Array(10).fill(LeaseEventType.GENERATED));
    expect(events.map((e) => e.token)).toEqual(["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3", "b4", "b5"]);
    const seqs = events.map((e) => Number(e.sequence));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    await c.close();
  });

  it("surfaces SEQUENCE_COMPACTED with the oldest sequence still kept", async () => {
    const pool = await freshPool(admin, 0, 5000);
    for (let i = 0; i < 30; i++) await admin.service.generateTokens({ pool, tokens: [`t${i}`] }); // ring keeps 20
    const c = client(s.url);
    const it = c.watch(pool, { afterSequence: 1n })[Symbol.asyncIterator]();
    const err = await it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SequenceCompactedError);
    const compacted = err as SequenceCompactedError;
    expect(compacted.afterSequence).toBe(1n);
    expect(compacted.oldestSequence).toBeGreaterThan(2n);
    expect(compacted.message).toContain("SEQUENCE_COMPACTED");
    await c.close();
  });
});
