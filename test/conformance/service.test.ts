// The shared conformance suite: the same behavioural tests against every store and every client
// protocol (connect-es pattern: one suite, many servers). Responses are canonical proto JSON.

import type { JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENTS, CONNECT_ENGINE, type ClientFactory } from "../harness/client-matrix.js";
import { RpcError, type TestClient } from "../harness/clients.js";
import { STORES, startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

let poolCounter = 0;
const uniquePool = (): string => `p${++poolCounter}-${Math.random().toString(36).slice(2, 8)}`;

async function expectRpcError(p: Promise<unknown>, code: string, reason?: string): Promise<RpcError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected ${code}${reason ? `/${reason}` : ""}`).toBeInstanceOf(RpcError);
  const rpc = e as RpcError;
  expect({ code: rpc.code, reason: rpc.reason }).toEqual({ code, reason: reason ?? rpc.reason });
  return rpc;
}

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error("condition not reached in time");
    await sleep(25);
  }
}

const num = (v: unknown): number => (v === undefined ? 0 : Number(v));
const ms = (timestamp: unknown): number => Date.parse(String(timestamp));

/** Reads events from a watch until `count` have arrived (progress messages are skipped). */
async function takeEvents(iter: AsyncIterator<JsonObject>, count: number): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  while (out.length < count) {
    const next = await iter.next();
    if (next.done) throw new Error(`stream ended after ${out.length} events`);
    if (next.value.event) out.push(next.value.event as JsonObject);
  }
  return out;
}

/**
 * Every client against every store on the default server (native gRPC on the grpc-js engine), and
 * the native gRPC clients against --grpc-engine connect on the memory store: the engine is the
 * transport, independent of the store, so one store is enough to hold the two engines to one behaviour.
 */
const RUNS: { store: (typeof STORES)[number]; clients: Readonly<Record<string, ClientFactory>>; flags: readonly string[] }[] = [
  ...STORES.map((store) => ({ store, clients: CLIENTS, flags: [] })),
  { store: "memory", clients: CONNECT_ENGINE.clients, flags: CONNECT_ENGINE.flags },
];

for (const { store, clients, flags } of RUNS) {
  for (const [clientName, makeClient] of Object.entries(clients)) {
    describe(`${store} store × ${clientName}`, () => {
      let server: TestServer;
      let c: TestClient;

      beforeAll(async () => {
        server = await startTestServer(store, flags);
        c = makeClient(server);
      });
      afterAll(async () => {
        c.close();
        await server.close();
      });

      async function pool(opts: JsonObject = {}): Promise<string> {
        const name = uniquePool();
        await c.unary("createPool", { name, ...opts });
        return name;
      }

      it("creates, reads, lists and deletes pools", async () => {
        const name = uniquePool();
        const created = await c.unary("createPool", { name, leaseTtl: "30s", idleTtl: "0s", maxTokens: 10, initialTokens: 3 });
        expect(created.pool).toMatchObject({ name, leaseTtl: "30s", maxTokens: 10, total: 3, available: 3 });
        const got = await c.unary("getPool", { name });
        expect(got.pool).toMatchObject({ name, total: 3, available: 3 });
        expect((got.pool as JsonObject).held).toBeUndefined(); // zero is omitted in canonical JSON
        await expectRpcError(c.unary("createPool", { name }), "already_exists", "POOL_EXISTS");

        const second = await pool();
        const page1 = await c.unary("listPools", { pageSize: 1, pageToken: "" });
        expect((page1.pools as JsonObject[]).length).toBe(1);
        expect(page1.nextPageToken).toBeTruthy();
        const seen: string[] = [];
        let token: string | undefined = "";
        do {
          const page: JsonObject = await c.unary("listPools", { pageSize: 2, ...(token && { pageToken: token }) });
          for (const p of (page.pools as JsonObject[] | undefined) ?? []) seen.push(String(p.name));
          token = page.nextPageToken as string | undefined;
        } while (token);
        expect(seen).toEqual([...seen].sort());
        expect(seen).toEqual(expect.arrayContaining([name, second, "default"]));

        await c.unary("deletePool", { name });
        await expectRpcError(c.unary("getPool", { name }), "not_found", "POOL_NOT_FOUND");
        await expectRpcError(c.unary("deletePool", { name }), "not_found", "POOL_NOT_FOUND");
      });

      it("generates random and given tokens, all or nothing", async () => {
        const p = await pool({ maxTokens: 5 });
        const random = await c.unary("generateTokens", { pool: p, count: 2 });
        const ids = random.tokens as string[];
        expect(ids).toHaveLength(2);
        for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
        expect(new Set(ids).size).toBe(2);
        const given = await c.unary("generateTokens", { pool: p, tokens: ["alpha", "beta"] });
        expect(given).toMatchObject({ tokens: ["alpha", "beta"], available: 4 });
        await expectRpcError(c.unary("generateTokens", { pool: p, tokens: ["gamma", "alpha"] }), "already_exists", "TOKEN_EXISTS");
        await expectRpcError(c.unary("generateTokens", { pool: p, count: 2 }), "resource_exhausted", "POOL_FULL");
        expect((await c.unary("getPool", { name: p })).pool).toMatchObject({ total: 4 }); // nothing partially applied
        await expectRpcError(c.unary("generateTokens", { pool: p, count: 1, tokens: ["x"] }), "invalid_argument", "INVALID_ARGUMENT");
        await expectRpcError(c.unary("generateTokens", { pool: "nope-" + p, count: 1 }), "not_found", "POOL_NOT_FOUND");
      });

      it("assigns distinct tokens with increasing generations, then reports exhaustion as NOT_FOUND", async () => {
        const p = await pool({ initialTokens: 3 });
        const leases: JsonObject[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await c.unary("assignToken", { pool: p, owner: `o${i}` });
          expect(num(r.available)).toBe(2 - i);
          leases.push(r.lease as JsonObject);
        }
        expect(new Set(leases.map((l) => l.token)).size).toBe(3);
        const gens = leases.map((l) => Number(l.generation));
        expect(gens).toEqual([...gens].sort((a, b) => a - b));
        expect(new Set(gens).size).toBe(3);
        const l0 = leases[0]!;
        expect(l0).toMatchObject({ pool: p, owner: "o0", leaseTtl: "60s" });
        expect(ms(l0.expireTime) - Date.now()).toBeGreaterThan(55_000);
        const err = await expectRpcError(c.unary("assignToken", { pool: p, owner: "late" }), "not_found", "POOL_EXHAUSTED");
        expect(err.message).toContain(p);
        await expectRpcError(c.unary("assignToken", { pool: "missing-" + p, owner: "x" }), "not_found", "POOL_NOT_FOUND");
      });

      it("releases with fencing checks", async () => {
        const p = await pool({ initialTokens: 1 });
        const lease = (await c.unary("assignToken", { pool: p, owner: "alice" })).lease as JsonObject;
        const token = lease.token as string;
        const generation = String(lease.generation);
        await expectRpcError(
          c.unary("releaseToken", { pool: p, token, generation: String(Number(generation) + 1) }),
          "failed_precondition",
          "LEASE_MISMATCH",
        );
        await expectRpcError(c.unary("releaseToken", { pool: p, token, owner: "mallory" }), "failed_precondition", "LEASE_MISMATCH");
        expect((await c.unary("getToken", { pool: p, token })).state).toBe("TOKEN_STATE_HELD");
        const released = await c.unary("releaseToken", { pool: p, token, generation, owner: "alice" });
        expect(num(released.available)).toBe(1);
        await expectRpcError(c.unary("releaseToken", { pool: p, token }), "failed_precondition", "NOT_HELD");
        await expectRpcError(c.unary("releaseToken", { pool: p, token: "nope" }), "not_found", "TOKEN_NOT_FOUND");
        const again = (await c.unary("assignToken", { pool: p, owner: "bob" })).lease as JsonObject;
        expect(Number(again.generation)).toBeGreaterThan(Number(generation));
      });

      it("keeps leases alive and reports unknown tokens per token", async () => {
        const p = await pool({ initialTokens: 2, leaseTtl: "2s" });
        const lease = (await c.unary("assignToken", { pool: p, owner: "k" })).lease as JsonObject;
        await sleep(50);
        const res = await c.unary("keepAlive", { pool: p, tokens: [lease.token as string, "ghost"] });
        const [held, ghost] = res.results as JsonObject[];
        expect(held).toMatchObject({ token: lease.token, status: "KEEP_ALIVE_STATUS_OK" });
        expect(ms((held!.lease as JsonObject).expireTime)).toBeGreaterThan(ms(lease.expireTime));
        expect((held!.lease as JsonObject).generation).toBe(lease.generation);
        expect(ghost).toMatchObject({ token: "ghost", status: "KEEP_ALIVE_STATUS_NOT_FOUND" });
        await expectRpcError(c.unary("keepAlive", { pool: p, tokens: [] }), "invalid_argument", "INVALID_ARGUMENT");
      });

      it("returns the same lease for a retried request_id", async () => {
        const p = await pool({ initialTokens: 3 });
        const a = await c.unary("assignToken", { pool: p, owner: "r", requestId: "req-1" });
        const b = await c.unary("assignToken", { pool: p, owner: "r", requestId: "req-1" });
        expect(b.lease).toEqual(a.lease);
        const other = await c.unary("assignToken", { pool: p, owner: "r", requestId: "req-2" });
        expect((other.lease as JsonObject).token).not.toBe((a.lease as JsonObject).token);
        expect((await c.unary("getPool", { name: p })).pool).toMatchObject({ held: 2 });
      });

      it("gets and deletes tokens", async () => {
        const p = await pool();
        await c.unary("generateTokens", { pool: p, tokens: ["t1", "t2"] });
        expect(await c.unary("getToken", { pool: p, token: "t1" })).toMatchObject({ pool: p, token: "t1", state: "TOKEN_STATE_FREE" });
        const lease = (await c.unary("assignToken", { pool: p, owner: "d" })).lease as JsonObject;
        const held = await c.unary("getToken", { pool: p, token: lease.token as string });
        expect(held).toMatchObject({ state: "TOKEN_STATE_HELD", lease: { owner: "d", generation: lease.generation } });
        await c.unary("deleteToken", { pool: p, token: lease.token as string });
        await expectRpcError(c.unary("getToken", { pool: p, token: lease.token as string }), "not_found", "TOKEN_NOT_FOUND");
        await expectRpcError(c.unary("deleteToken", { pool: p, token: lease.token as string }), "not_found", "TOKEN_NOT_FOUND");
        expect((await c.unary("getPool", { name: p })).pool).toMatchObject({ total: 1, available: 1 });
      });

      it("expires unrenewed leases back to the pool and idle tokens out of it", async () => {
        const p = await pool({ initialTokens: 1, leaseTtl: "0.3s", idleTtl: "0s" });
        const lease = (await c.unary("assignToken", { pool: p, owner: "e" })).lease as JsonObject;
        const freed = await eventually(async () => {
          const t = await c.unary("getToken", { pool: p, token: lease.token as string });
          return t.state === "TOKEN_STATE_FREE" ? t : undefined;
        });
        expect(freed.lease).toBeUndefined();
        expect(Date.now()).toBeGreaterThanOrEqual(ms(lease.expireTime));

        // Kept alive every 100 ms against a 1 s idle TTL: a loaded shared machine can stall the keeper
        // for a few hundred ms (0.3 s was lost on 2 cores under other agents' load), never for 1 s.
        const idle = await pool({ idleTtl: "1s" });
        await c.unary("generateTokens", { pool: idle, tokens: ["kept", "dropped"] });
        const keeper = setInterval(() => void c.unary("keepAlive", { pool: idle, tokens: ["kept"] }).catch(() => undefined), 100);
        try {
          await eventually(async () => {
            const r = await c.unary("getToken", { pool: idle, token: "dropped" }).catch((e: unknown) => e);
            return r instanceof RpcError && r.reason === "TOKEN_NOT_FOUND" ? r : undefined;
          });
        } finally {
          clearInterval(keeper);
        }
        expect(await c.unary("getToken", { pool: idle, token: "kept" })).toMatchObject({ state: "TOKEN_STATE_FREE" });
      });

      it("waits for a free token FIFO, times out, and stops waiting when cancelled", async () => {
        const p = await pool({ initialTokens: 1 });
        const first = (await c.unary("assignToken", { pool: p, owner: "holder" })).lease as JsonObject;
        const waiter = c.unary("assignToken", { pool: p, owner: "waiter", waitTimeout: "5s" });
        await eventually(async () => {
          const s = (await c.unary("getPool", { name: p })).pool as JsonObject;
          return num(s.waiters) === 1 ? s : undefined;
        });
        await c.unary("releaseToken", { pool: p, token: first.token as string });
        const granted = (await waiter).lease as JsonObject;
        expect(granted).toMatchObject({ token: first.token, owner: "waiter" });
        expect(Number(granted.generation)).toBeGreaterThan(Number(first.generation));

        const started = Date.now();
        await expectRpcError(c.unary("assignToken", { pool: p, owner: "w2", waitTimeout: "0.2s" }), "not_found", "POOL_EXHAUSTED");
        expect(Date.now() - started).toBeGreaterThanOrEqual(150);

        const abort = new AbortController();
        const cancelled = c.unary("assignToken", { pool: p, owner: "w3", waitTimeout: "10s" }, { signal: abort.signal });
        await eventually(async () => (num(((await c.unary("getPool", { name: p })).pool as JsonObject).waiters) === 1 ? true : undefined));
        abort.abort();
        await expect(cancelled).rejects.toBeDefined();
        await eventually(async () => (num(((await c.unary("getPool", { name: p })).pool as JsonObject).waiters) === 0 ? true : undefined));
        // The cancelled waiter must not swallow the next free token.
        await c.unary("releaseToken", { pool: p, token: granted.token as string });
        expect((await c.unary("getPool", { name: p })).pool).toMatchObject({ available: 1 });
      });

      it("keeps freed tokens for queued waiters: a non-waiting assign is told POOL_EXHAUSTED with the queue length", async () => {
        const p = await pool({ initialTokens: 1 });
        const held = (await c.unary("assignToken", { pool: p, owner: "holder" })).lease as JsonObject;
        const queued = c.unary("assignToken", { pool: p, owner: "queued", waitTimeout: "5s" });
        await eventually(async () => (num(((await c.unary("getPool", { name: p })).pool as JsonObject).waiters) === 1 ? true : undefined));
        const behind = await expectRpcError(c.unary("assignToken", { pool: p, owner: "eager" }), "not_found", "POOL_EXHAUSTED");
        expect(behind.metadata).toMatchObject({ pool: p, waiters: "1" });
        expect(behind.message).toContain("1 waiting AssignToken call(s) are queued");
        // The freed token goes to the queue, not to whoever asks next.
        await c.unary("releaseToken", { pool: p, token: held.token as string });
        expect((await queued).lease).toMatchObject({ token: held.token, owner: "queued" });
        const none = await expectRpcError(c.unary("assignToken", { pool: p, owner: "eager" }), "not_found", "POOL_EXHAUSTED");
        expect(none.metadata).toMatchObject({ pool: p, waiters: "0" });
      });

      it("bounds a waiting assign by the call deadline", async () => {
        const p = await pool({ initialTokens: 1 });
        await c.unary("assignToken", { pool: p, owner: "holder" });
        const started = Date.now();
        await expectRpcError(c.unary("assignToken", { pool: p, owner: "late", waitTimeout: "30s" }, { timeoutMs: 300 }), "deadline_exceeded");
        expect(Date.now() - started).toBeLessThan(5000);
        await eventually(async () => (num(((await c.unary("getPool", { name: p })).pool as JsonObject).waiters) === 0 ? true : undefined));
      });

      it("streams lease events in sequence and replays after a sequence", async () => {
        const p = await pool({ initialTokens: 1, leaseTtl: "0.3s" });
        const abort = new AbortController();
        const iter = c.watch({ pool: p }, { signal: abort.signal })[Symbol.asyncIterator]();
        // The stream is live once the server has subscribed; a first event proves it.
        const pending = takeEvents(iter, 4);
        await sleep(150);
        const lease = (await c.unary("assignToken", { pool: p, owner: "w" })).lease as JsonObject;
        await c.unary("releaseToken", { pool: p, token: lease.token as string });
        await c.unary("assignToken", { pool: p, owner: "w2" });
        const events = await pending; // ASSIGNED, RELEASED, ASSIGNED, LEASE_EXPIRED
        abort.abort();
        expect(events.map((e) => e.type)).toEqual([
          "LEASE_EVENT_TYPE_ASSIGNED",
          "LEASE_EVENT_TYPE_RELEASED",
          "LEASE_EVENT_TYPE_ASSIGNED",
          "LEASE_EVENT_TYPE_LEASE_EXPIRED",
        ]);
        const seqs = events.map((e) => Number(e.sequence));
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
        expect(events[0]).toMatchObject({ pool: p, token: lease.token, owner: "w", generation: lease.generation });
        expect(events[3]).toMatchObject({ owner: "w2" });

        const replay = c.watch({ pool: p, afterSequence: String(seqs[0]) }, { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
        const replayed = await takeEvents(replay, 3);
        await replay.return?.();
        expect(replayed.map((e) => Number(e.sequence))).toEqual(seqs.slice(1));
        // after_sequence 0 with resume replays from the pool's very first event.
        const fromStart = c.watch({ pool: p, afterSequence: "0", resume: true }, { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
        const all = await takeEvents(fromStart, seqs.at(-1)!);
        await fromStart.return?.();
        expect(all.map((e) => Number(e.sequence))).toEqual(Array.from({ length: seqs.at(-1)! }, (_, i) => i + 1));
        await expectRpcError(
          (async () => {
            for await (const _ of c.watch({ pool: "missing-" + p })) return;
          })(),
          "not_found",
          "POOL_NOT_FOUND",
        );
      });

      it("watches every pool, including pools created and deleted while it runs", async () => {
        const before = await pool({ initialTokens: 1 });
        const doomed = await pool({ initialTokens: 1 });
        const abort = new AbortController();
        const iter = c.watch({ allPools: true, types: ["LEASE_EVENT_TYPE_ASSIGNED"] }, { signal: abort.signal })[Symbol.asyncIterator]();
        const pending = takeEvents(iter, 3);
        await sleep(150);
        await c.unary("assignToken", { pool: doomed, owner: "a" });
        await c.unary("deletePool", { name: doomed }); // its events stop; the watch goes on
        await c.unary("assignToken", { pool: before, owner: "b" });
        const after = await pool({ initialTokens: 1 }); // created after the watch started
        await c.unary("assignToken", { pool: after, owner: "c" });
        const events = await pending;
        abort.abort();
        // Sequences are per pool and pools are not ordered among themselves (on Redis each has its own reader).
        const seen = events.map((e) => ({ pool: e.pool, owner: e.owner })).sort((x, y) => String(x.owner).localeCompare(String(y.owner)));
        expect(seen).toEqual([
          { pool: doomed, owner: "a" },
          { pool: before, owner: "b" },
          { pool: after, owner: "c" },
        ]);
        await expectRpcError(
          (async () => {
            for await (const _ of c.watch({ allPools: true, afterSequence: "1" })) return;
          })(),
          "invalid_argument",
          "INVALID_ARGUMENT",
        );
      });

      it("rejects invalid arguments naming the field", async () => {
        const e1 = await expectRpcError(c.unary("createPool", { name: "" }), "invalid_argument", "INVALID_ARGUMENT");
        expect(e1.message).toContain("name");
        const e2 = await expectRpcError(c.unary("createPool", { name: uniquePool(), leaseTtl: "-5s" }), "invalid_argument", "INVALID_ARGUMENT");
        expect(e2.message).toContain("lease_ttl");
        const e3 = await expectRpcError(
          c.unary("createPool", { name: uniquePool(), leaseTtl: "999999999s" }),
          "invalid_argument",
          "INVALID_ARGUMENT",
        );
        expect(e3.message).toContain("lease_ttl");
        const e4 = await expectRpcError(c.unary("assignToken", { pool: "" }), "invalid_argument", "INVALID_ARGUMENT");
        expect(e4.message).toContain("pool");
        const e5 = await expectRpcError(
          c.unary("keepAlive", { pool: "default", tokens: Array.from({ length: 10_001 }, (_, i) => `t${i}`) }),
          "invalid_argument",
          "INVALID_ARGUMENT",
        );
        expect(e5.message).toContain("tokens");
        expect(e5.metadata.field).toBe("tokens");
      });

      it("refuses a non-zero duration under 1 ms instead of turning it into the default", async () => {
        // 0.0005s truncated to 0 ms, which means "unset": the pool default (30 s) or no wait at all.
        const name = uniquePool();
        for (const field of ["leaseTtl", "idleTtl"] as const) {
          const e = await expectRpcError(c.unary("createPool", { name, [field]: "0.0005s" }), "invalid_argument", "INVALID_ARGUMENT");
          expect(e.metadata.field).toBe(field === "leaseTtl" ? "lease_ttl" : "idle_ttl");
        }
        await expectRpcError(c.unary("getPool", { name }), "not_found", "POOL_NOT_FOUND");
        const p = await pool({ initialTokens: 1 });
        for (const [field, wire] of [["leaseTtl", "lease_ttl"], ["waitTimeout", "wait_timeout"]] as const) {
          const e = await expectRpcError(c.unary("assignToken", { pool: p, owner: "sub-ms", [field]: "0.000999999s" }), "invalid_argument", "INVALID_ARGUMENT");
          expect(e.metadata.field).toBe(wire);
          expect(e.message).toContain("1ms");
        }
        expect((await c.unary("getPool", { name: p })).pool).toMatchObject({ available: 1 }); // nothing assigned
        // Whole milliseconds and zero (unset) are still fine.
        const lease = (await c.unary("assignToken", { pool: p, owner: "ms", leaseTtl: "0.001s" })).lease as JsonObject;
        expect(lease.leaseTtl).toBe("0.001s");
      });

      it("rejects missing and wrong credentials", async () => {
        await expectRpcError(c.unary("getPool", { name: "default" }, { password: null }), "unauthenticated", "UNAUTHENTICATED");
        await expectRpcError(c.unary("getPool", { name: "default" }, { password: "wrong" }), "unauthenticated", "UNAUTHENTICATED");
        await expectRpcError(
          (async () => {
            for await (const _ of c.watch({ pool: "default" }, { password: "wrong" })) return;
          })(),
          "unauthenticated",
          "UNAUTHENTICATED",
        );
        expect((await c.unary("getPool", { name: "default" })).pool).toMatchObject({ name: "default" });
      });
    });
  }
}
