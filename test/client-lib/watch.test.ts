// client.watch against a real server process: it resumes after a dropped connection with exactly
// the events it had not delivered (no gap, no repeat), and says SEQUENCE_COMPACTED when they are gone.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("client.watch", () => {
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
