// WatchLeases beyond the basics: filters, heartbeats, expiry warnings, resuming after a dropped
// stream without loss or repeats, compaction (OUT_OF_RANGE) and the slow-consumer cut-off. Watching
// all pools is in the conformance suite, which runs it on every store.

import type { JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient, RpcError, type TestClient } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

let s: TestServer;
let c: TestClient;
beforeAll(async () => {
  s = await startTestServer("memory", ["--event-ring", "50", "--watch-buffer", "20"]);
  c = connectClient(s.url, s.password, "grpc-h2");
});
afterAll(async () => {
  c.close();
  await s.close();
});

let n = 0;
const newPool = async (opts: JsonObject = {}): Promise<string> => {
  const name = `w${++n}`;
  await c.unary("createPool", { name, ...opts });
  return name;
};

/** Collects stream messages until `stop` says so (or the stream ends). */
async function collect(iter: AsyncIterator<JsonObject>, stop: (all: JsonObject[]) => boolean): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  while (!stop(out)) {
    const r = await iter.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}
const settle = (): Promise<void> => sleep(150);
const eventsOf = (msgs: JsonObject[]) => msgs.filter((m) => m.event).map((m) => m.event as JsonObject);

describe("WatchLeases", () => {
  it("filters by event type and owner", async () => {
    const p = await newPool({ initialTokens: 3 });
    const abort = new AbortController();
    const iter = c.watch({ pool: p, owner: "alice", types: ["LEASE_EVENT_TYPE_RELEASED"] }, { signal: abort.signal })[Symbol.asyncIterator]();
    const got = collect(iter, (all) => all.length >= 1);
    await settle();
    const a = (await c.unary("assignToken", { pool: p, owner: "alice" })).lease as JsonObject;
    const b = (await c.unary("assignToken", { pool: p, owner: "bob" })).lease as JsonObject;
    await c.unary("releaseToken", { pool: p, token: String(b.token) });
    await c.unary("releaseToken", { pool: p, token: String(a.token) });
    const [only] = eventsOf(await got);
    abort.abort();
    expect(only).toMatchObject({ type: "LEASE_EVENT_TYPE_RELEASED", owner: "alice", token: a.token });
  });

  it("replays from the first event with after_sequence 0 and resume, and is live only without resume", async () => {
    const p = await newPool({ initialTokens: 2 }); // sequences 1 and 2 (generated)
    const fromZero = new AbortController();
    const replay = collect(c.watch({ pool: p, afterSequence: "0", resume: true }, { signal: fromZero.signal })[Symbol.asyncIterator](), (all) => eventsOf(all).length >= 3);
    const live = new AbortController();
    const liveOnly = collect(c.watch({ pool: p, afterSequence: "0" }, { signal: live.signal })[Symbol.asyncIterator](), (all) => eventsOf(all).length >= 1);
    await settle();
    await c.unary("generateTokens", { pool: p, tokens: ["third"] });
    const [replayed, lived] = await Promise.all([replay, liveOnly]);
    fromZero.abort();
    live.abort();
    expect(eventsOf(replayed).map((e) => e.sequence)).toEqual(["1", "2", "3"]);
    expect(eventsOf(lived).map((e) => [e.sequence, e.token])).toEqual([["3", "third"]]);
    // An all-pools watch is live only: asking it to resume is refused.
    await expect(
      (async () => {
        for await (const _ of c.watch({ allPools: true, resume: true })) return;
      })(),
    ).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("sends Progress heartbeats with the current sequence while quiet", async () => {
    const p = await newPool({ initialTokens: 1 });
    await c.unary("assignToken", { pool: p, owner: "x" }); // sequences 1 (generated), 2 (assigned)
    const abort = new AbortController();
    const started = Date.now();
    const iter = c.watch({ pool: p, afterSequence: "1", heartbeatInterval: "1s" }, { signal: abort.signal })[Symbol.asyncIterator]();
    const msgs = await collect(iter, (all) => all.some((m) => m.progress));
    abort.abort();
    expect(eventsOf(msgs).map((e) => e.sequence)).toEqual(["2"]);
    expect(msgs.at(-1)!.progress).toMatchObject({ sequence: "2" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("warns a holder before its lease expires, and again after each renewal", async () => {
    const p = await newPool({ initialTokens: 1, leaseTtl: "1s" });
    const abort = new AbortController();
    const iter = c.watch({ pool: p, owner: "holder", expiringFraction: 0.5 }, { signal: abort.signal })[Symbol.asyncIterator]();
    let pending = iter.next(); // a streaming call starts with its first read
    await settle();
    const lease = (await c.unary("assignToken", { pool: p, owner: "holder" })).lease as JsonObject;
    const types: unknown[] = [];
    let renewed = false;
    for (;;) {
      const m = await pending;
      pending = iter.next();
      if (m.done) break;
      const e = m.value.event as JsonObject | undefined;
      if (!e) continue;
      types.push(e.type);
      if (e.type === "LEASE_EVENT_TYPE_LEASE_EXPIRING" && !renewed) {
        renewed = true;
        expect(Date.parse(String(e.expireTime)) - Date.now()).toBeGreaterThan(200); // warned ahead of expiry
        await c.unary("keepAlive", { pool: p, tokens: [String(lease.token)] });
      }
      if (e.type === "LEASE_EVENT_TYPE_LEASE_EXPIRED") break;
    }
    pending.catch(() => undefined); // the read in flight ends with the cancellation below
    abort.abort();
    expect(types).toEqual([
      "LEASE_EVENT_TYPE_ASSIGNED",
      "LEASE_EVENT_TYPE_LEASE_EXPIRING",
      "LEASE_EVENT_TYPE_RENEWED",
      "LEASE_EVENT_TYPE_LEASE_EXPIRING",
      "LEASE_EVENT_TYPE_LEASE_EXPIRED",
    ]);
    await expect(c.watch({ pool: p, expiringFraction: 0.5 })[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("resumes a dropped stream from its last sequence, missing and repeating nothing", async () => {
    const p = await newPool({ initialTokens: 5 });
    for (let i = 0; i < 2; i++) await c.unary("assignToken", { pool: p, owner: `early${i}` });
    const abort1 = new AbortController();
    const first = c.watch({ pool: p, afterSequence: "1" }, { signal: abort1.signal })[Symbol.asyncIterator]();
    const part1 = eventsOf(await collect(first, (all) => all.length >= 6)); // 4 GENERATED + 2 ASSIGNED
    abort1.abort(); // the stream dies mid-way
    for (let i = 0; i < 3; i++) await c.unary("assignToken", { pool: p, owner: `late${i}` });
    const last = Number(part1.at(-1)!.sequence);
    const abort2 = new AbortController();
    const second = c.watch({ pool: p, afterSequence: String(last) }, { signal: abort2.signal })[Symbol.asyncIterator]();
    const part2 = eventsOf(await collect(second, (all) => eventsOf(all).length >= 3));
    abort2.abort();
    const seqs = [...part1, ...part2].map((e) => Number(e.sequence));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 2));
    expect(seqs.at(-1)).toBe(Number(((await c.unary("getPool", { name: p })).pool as JsonObject).sequence));
  });

  it("fails a resume older than the retained events with OUT_OF_RANGE and the oldest sequence", async () => {
    const p = await newPool();
    await c.unary("generateTokens", { pool: p, count: 60 }); // ring keeps 50
    const err = await c
      .watch({ pool: p, afterSequence: "3" })
      [Symbol.asyncIterator]()
      .next()
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: "out_of_range", reason: "SEQUENCE_COMPACTED", metadata: { oldest_sequence: "11" } });
  });

  it("cuts off a watcher that stops reading with RESOURCE_EXHAUSTED and where to resume", async () => {
    const p = await newPool({ initialTokens: 1000, maxTokens: 1000 });
    const tokens = ((await c.unary("generateTokens", { pool: p, count: 0 }).catch(() => undefined)) ?? {}) as JsonObject;
    expect(tokens).toEqual({}); // count 0 is rejected; the pool keeps its 1000 tokens
    const abort = new AbortController();
    const iter = c.watch({ pool: p }, { signal: abort.signal })[Symbol.asyncIterator]();
    const first = iter.next();
    await settle();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String(((await c.unary("assignToken", { pool: p, owner: "z" })).lease as JsonObject).token));
    await first; // the stream is flowing; now stop reading while thousands of events pile up
    for (let i = 0; i < 20; i++) await c.unary("keepAlive", { pool: p, tokens: Array.from({ length: 200 }, (_, j) => ids[j % ids.length]!) });
    let error: unknown;
    try {
      for (;;) if ((await iter.next()).done) break;
    } catch (e) {
      error = e;
    }
    abort.abort();
    expect(error).toMatchObject({ code: "resource_exhausted", reason: "SLOW_CONSUMER" });
    expect(Number((error as RpcError).metadata.last_sequence)).toBeGreaterThan(1000);
    // The server keeps serving everyone else.
    expect((await c.unary("getPool", { name: p })).pool).toMatchObject({ held: 5 });
  });
});
