// Issue 17's pool capabilities, the same rules on every store: gang leases (AssignTokens, all or none,
// FIFO with the anti-starvation rule of core/token-pools.ts), owner quotas and UpdatePool, paged
// ListTokens, cordon/uncordon. Every rule runs on every store through one client; every client
// protocol then runs each new RPC once (the wire mapping is per protocol, the rules are not).

import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENTS } from "../harness/client-matrix.js";
import { RpcError, type TestClient } from "../harness/clients.js";
import { STORES, startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

let poolCounter = 0;
const uniquePool = (): string => `cap${++poolCounter}-${Math.random().toString(36).slice(2, 8)}`;
const num = (v: unknown): number => (v === undefined ? 0 : Number(v));

async function rpcError(p: Promise<unknown>, code: string, reason: string): Promise<RpcError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected ${code}/${reason}`).toBeInstanceOf(RpcError);
  const rpc = e as RpcError;
  expect({ code: rpc.code, reason: rpc.reason }).toEqual({ code, reason });
  return rpc;
}

const ids = (n: number, prefix = "t"): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, "0")}`);
/** A lease in canonical JSON: these fields are always set (64-bit generation as a string). */
type LeaseJson = { token: string; owner: string; generation: string } & { [k: string]: JsonValue };
const leasesOf = (r: JsonObject): LeaseJson[] => (r.leases as LeaseJson[] | undefined) ?? [];
const tokensOf = (r: JsonObject): JsonObject[] => (r.tokens as JsonObject[] | undefined) ?? [];

/** Every token of a listing, page by page; `between` runs after each page (concurrent changes). */
async function listAll(c: TestClient, req: JsonObject, between?: (page: number) => Promise<void>): Promise<string[]> {
  const out: string[] = [];
  let pageToken = "";
  for (let page = 0; ; page++) {
    const r = await c.unary("listTokens", { ...req, ...(pageToken && { pageToken }) });
    for (const t of tokensOf(r)) out.push(String(t.token));
    pageToken = String(r.nextPageToken ?? "");
    if (!pageToken) return out;
    await between?.(page);
  }
}

const RULES_CLIENT = "connect-binary (connect-es, HTTP/2)";

for (const store of STORES) {
  describe(`${store} store: gangs, quotas, listing, cordons`, () => {
    let server: TestServer;
    let c: TestClient;

    beforeAll(async () => {
      server = await startTestServer(store);
      c = CLIENTS[RULES_CLIENT]!(server);
    });
    afterAll(async () => {
      c.close();
      await server.close();
    });

    /** GetPool's counters, zero included (canonical JSON omits zero fields). */
    async function counts(name: string): Promise<Record<string, number>> {
      const got = (await c.unary("getPool", { name })).pool as JsonObject;
      const out: Record<string, number> = {};
      for (const k of ["total", "available", "held", "waiters", "cordoned"]) out[k] = num(got[k]);
      return out;
    }

    async function pool(tokens: number, opts: JsonObject = {}): Promise<string> {
      const name = uniquePool();
      await c.unary("createPool", { name, leaseTtl: "60s", idleTtl: "0s", ...opts });
      if (tokens > 0) await c.unary("generateTokens", { pool: name, tokens: ids(tokens) });
      return name;
    }

    it("AssignTokens leases count distinct tokens or none, each with its own generation; a retry returns the same gang", async () => {
      const p = await pool(5);
      const gang = await c.unary("assignTokens", { pool: p, owner: "job", count: 3, requestId: "r1" });
      const leases = leasesOf(gang);
      expect(leases).toHaveLength(3);
      expect(new Set(leases.map((l) => l.token)).size).toBe(3);
      expect(new Set(leases.map((l) => num(l.generation))).size).toBe(3);
      for (const l of leases) expect(l).toMatchObject({ pool: p, owner: "job" });
      expect(num(gang.available)).toBe(2);
      // Not enough free: nothing is taken.
      await rpcError(c.unary("assignTokens", { pool: p, owner: "other", count: 3 }), "not_found", "POOL_EXHAUSTED");
      expect(await counts(p)).toMatchObject({ available: 2, held: 3 });
      const retry = await c.unary("assignTokens", { pool: p, owner: "job", count: 3, requestId: "r1" });
      expect(leasesOf(retry).map((l) => l.token).sort()).toEqual(leases.map((l) => l.token).sort());
      expect(await counts(p)).toMatchObject({ available: 2, held: 3 });
      // Leases of a gang are ordinary leases: keep-alive and release per token.
      const first = leases[0]!;
      const kept = await c.unary("keepAlive", { pool: p, tokens: [first.token] });
      expect(((kept.results as JsonObject[])[0]!.lease as JsonObject).generation).toBe(first.generation);
      await c.unary("releaseToken", { pool: p, token: first.token, generation: first.generation });
      expect(await counts(p)).toMatchObject({ available: 3, held: 2 });
      await rpcError(c.unary("assignTokens", { pool: p, owner: "job", count: 0 }), "invalid_argument", "INVALID_ARGUMENT");
      const tooMany = await rpcError(c.unary("assignTokens", { pool: p, owner: "job", count: 10_001 }), "invalid_argument", "INVALID_ARGUMENT");
      expect(tooMany.metadata.field).toBe("count");
      await rpcError(c.unary("assignTokens", { pool: "nope-" + p, owner: "job", count: 1 }), "not_found", "POOL_NOT_FOUND");
    });

    it("a waiting gang is served FIFO once count tokens are free, and times out like a single wait", async () => {
      const p = await pool(3);
      const singles = [];
      for (let i = 0; i < 3; i++) singles.push((await c.unary("assignToken", { pool: p, owner: `s${i}` })).lease as LeaseJson);
      const waiting = c.unary("assignTokens", { pool: p, owner: "gang", count: 2, waitTimeout: "10s" });
      await sleep(100);
      expect(await counts(p)).toMatchObject({ waiters: 1 });
      await c.unary("releaseToken", { pool: p, token: singles[0]!.token });
      await c.unary("releaseToken", { pool: p, token: singles[1]!.token });
      const granted = leasesOf(await waiting);
      expect(granted.map((l) => l.token).sort()).toEqual([singles[0]!.token, singles[1]!.token].sort());
      const started = Date.now();
      await rpcError(c.unary("assignTokens", { pool: p, owner: "late", count: 2, waitTimeout: "0.3s" }), "not_found", "POOL_EXHAUSTED");
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });

    it("anti-starvation: later singles may overtake a waiting gang count times, then freed tokens are kept for it", async () => {
      const p = await pool(2);
      const a = (await c.unary("assignToken", { pool: p, owner: "a" })).lease as LeaseJson;
      const b = (await c.unary("assignToken", { pool: p, owner: "b" })).lease as LeaseJson;
      const gang = c.unary("assignTokens", { pool: p, owner: "gang", count: 2, waitTimeout: "20s" });
      await sleep(100);
      const s1 = c.unary("assignToken", { pool: p, owner: "s1", waitTimeout: "20s" });
      await sleep(100);
      // The gang cannot be served with one token: it does not block the single behind it (overtake 1).
      await c.unary("releaseToken", { pool: p, token: a.token });
      const s1Lease = (await s1).lease as LeaseJson;
      expect(s1Lease.token).toBe(a.token);
      await c.unary("releaseToken", { pool: p, token: b.token });
      // Overtake 2 (the last): a new single still takes the free token.
      const s3 = (await c.unary("assignToken", { pool: p, owner: "s3" })).lease as LeaseJson;
      expect(s3.token).toBe(b.token);
      // Now the gang reserves: a freed token stays free for it, and later singles are refused.
      await c.unary("releaseToken", { pool: p, token: s1Lease.token });
      expect(await counts(p)).toMatchObject({ available: 1, waiters: 1 });
      await rpcError(c.unary("assignToken", { pool: p, owner: "s4" }), "not_found", "POOL_EXHAUSTED");
      await c.unary("releaseToken", { pool: p, token: s3.token });
      const served = leasesOf(await gang);
      expect(served.map((l) => l.token).sort()).toEqual([a.token, b.token].sort());
      for (const l of served) expect(l.owner).toBe("gang");
    });

    it("64 concurrent gang requests on a small pool: never a partial gang, never two holders of one token", async () => {
      const p = await pool(6, { leaseTtl: "30s" });
      const held = new Map<string, string>();
      const generations = new Set<number>();
      const violations: string[] = [];
      let served = 0;
      let refused = 0;
      await Promise.all(
        Array.from({ length: 64 }, async (_, i) => {
          const count = 1 + (i % 4);
          const who = `g${i}`;
          let r: JsonObject;
          try {
            r = await c.unary("assignTokens", { pool: p, owner: who, count, waitTimeout: "8s" });
          } catch (e) {
            if (e instanceof RpcError && e.reason === "POOL_EXHAUSTED") return void refused++;
            throw e;
          }
          const leases = leasesOf(r);
          if (leases.length !== count) violations.push(`${who} got ${leases.length} of ${count}`);
          for (const l of leases) {
            const token = String(l.token);
            const holder = held.get(token);
            if (holder !== undefined) violations.push(`${token} held by ${holder} and ${who}`);
            held.set(token, who);
            if (generations.has(num(l.generation))) violations.push(`generation ${String(l.generation)} issued twice`);
            generations.add(num(l.generation));
          }
          served++;
          await sleep(5 + (i % 3) * 5);
          // Forgotten locally before the server frees it, so a grant that follows can never look doubled.
          for (const l of leases) held.delete(String(l.token));
          await Promise.all(leases.map((l) => c.unary("releaseToken", { pool: p, token: l.token, generation: l.generation })));
        }),
      );
      expect(violations).toEqual([]);
      expect(served + refused).toBe(64);
      expect(served).toBeGreaterThan(32);
      expect(await counts(p)).toMatchObject({ available: 6, waiters: 0 });
    }, 60_000);

    it("owner quotas: over max_leases_per_owner is RESOURCE_EXHAUSTED / OWNER_QUOTA_EXCEEDED with the numbers", async () => {
      const p = await pool(6, { maxLeasesPerOwner: 2 });
      expect((await c.unary("getPool", { name: p })).pool).toMatchObject({ maxLeasesPerOwner: 2 });
      const first = (await c.unary("assignToken", { pool: p, owner: "a" })).lease as LeaseJson;
      await c.unary("assignToken", { pool: p, owner: "a" });
      const e = await rpcError(c.unary("assignToken", { pool: p, owner: "a" }), "resource_exhausted", "OWNER_QUOTA_EXCEEDED");
      expect(e.metadata).toMatchObject({ pool: p, owner: "a", limit: "2", used: "2", requested: "1" });
      const g = await rpcError(c.unary("assignTokens", { pool: p, owner: "b", count: 3 }), "resource_exhausted", "OWNER_QUOTA_EXCEEDED");
      expect(g.metadata).toMatchObject({ limit: "2", used: "0", requested: "3" });
      expect(leasesOf(await c.unary("assignTokens", { pool: p, owner: "b", count: 2 }))).toHaveLength(2);
      await c.unary("releaseToken", { pool: p, token: first.token });
      await c.unary("assignToken", { pool: p, owner: "a" });
      // UpdatePool raises the quota; unset fields stay as they were.
      const updated = await c.unary("updatePool", { name: p, maxLeasesPerOwner: 3 });
      expect(updated.pool).toMatchObject({ maxLeasesPerOwner: 3, leaseTtl: "60s", total: 6, held: 4 });
      await c.unary("assignToken", { pool: p, owner: "a" });
      await rpcError(c.unary("assignToken", { pool: p, owner: "a" }), "resource_exhausted", "OWNER_QUOTA_EXCEEDED");
    });

    it("the quota holds under 40 concurrent assigns of one owner", async () => {
      const p = await pool(20, { maxLeasesPerOwner: 3 });
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => c.unary("assignToken", { pool: p, owner: "greedy" })));
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(3);
      for (const r of results) {
        if (r.status === "rejected") expect((r.reason as RpcError).reason).toBe("OWNER_QUOTA_EXCEEDED");
      }
      expect(await counts(p)).toMatchObject({ held: 3, available: 17 });
    });

    it("UpdatePool changes lease TTL for new leases, refuses max_tokens below the tokens held, names the pool", async () => {
      const p = await pool(3);
      const before = (await c.unary("assignToken", { pool: p, owner: "x" })).lease as LeaseJson;
      expect(before.leaseTtl).toBe("60s");
      const r = await c.unary("updatePool", { name: p, leaseTtl: "5s" });
      expect(r.pool).toMatchObject({ leaseTtl: "5s", idleTtl: "0s", total: 3, held: 1 });
      expect(((await c.unary("assignToken", { pool: p, owner: "x" })).lease as LeaseJson).leaseTtl).toBe("5s");
      expect(((await c.unary("getToken", { pool: p, token: before.token })).lease as LeaseJson).leaseTtl).toBe("60s");
      const low = await rpcError(c.unary("updatePool", { name: p, maxTokens: 2 }), "invalid_argument", "INVALID_ARGUMENT");
      expect(low.metadata.field).toBe("max_tokens");
      await c.unary("updatePool", { name: p, maxTokens: 3 });
      await rpcError(c.unary("generateTokens", { pool: p, count: 1 }), "resource_exhausted", "POOL_FULL");
      await rpcError(c.unary("updatePool", { name: "nope-" + p, leaseTtl: "5s" }), "not_found", "POOL_NOT_FOUND");
    });

    it("ListTokens pages in id order with state and owner filters", async () => {
      const p = await pool(25);
      const all = await listAll(c, { pool: p, pageSize: 10 });
      expect(all).toEqual(ids(25));
      const first = await c.unary("listTokens", { pool: p, pageSize: 10 });
      expect(tokensOf(first)).toHaveLength(10);
      expect(tokensOf(first)[0]).toMatchObject({ token: "t000", state: "TOKEN_STATE_FREE" });
      const held: LeaseJson[] = [];
      for (const owner of ["a", "a", "b"]) held.push((await c.unary("assignToken", { pool: p, owner })).lease as LeaseJson);
      const cordonedHeld = String(held[2]!.token);
      const cordonedFree = ids(25).find((t) => !held.some((l) => l.token === t))!;
      await c.unary("cordonToken", { pool: p, token: cordonedHeld });
      await c.unary("cordonToken", { pool: p, token: cordonedFree });
      const sorted = (xs: unknown[]): string[] => xs.map(String).sort();
      expect(await listAll(c, { pool: p, state: "TOKEN_STATE_HELD", pageSize: 2 })).toEqual(sorted(held.map((l) => l.token)));
      expect(await listAll(c, { pool: p, state: "TOKEN_STATE_CORDONED", pageSize: 5 })).toEqual(sorted([cordonedHeld, cordonedFree]));
      const free = await listAll(c, { pool: p, state: "TOKEN_STATE_FREE", pageSize: 7 });
      expect(free).toHaveLength(21);
      expect(free).not.toContain(cordonedFree);
      expect(await listAll(c, { pool: p, owner: "a", pageSize: 1 })).toEqual(sorted(held.slice(0, 2).map((l) => l.token)));
      const heldPage = await c.unary("listTokens", { pool: p, state: "TOKEN_STATE_HELD", pageSize: 1000 });
      const withLease = tokensOf(heldPage).find((t) => t.token === cordonedHeld)!;
      expect(withLease).toMatchObject({ state: "TOKEN_STATE_HELD", cordoned: true, lease: { owner: "b", token: cordonedHeld } });
      await rpcError(c.unary("listTokens", { pool: "nope-" + p }), "not_found", "POOL_NOT_FOUND");
    });

    it("ListTokens under concurrent change: a token present for the whole listing appears exactly once", async () => {
      const p = await pool(60);
      let added = 0;
      const deleted = new Set<string>();
      const listed = await listAll(c, { pool: p, pageSize: 7 }, async (page) => {
        // Between pages: delete tokens on both sides of the cursor, add new ones on both sides, hold some.
        for (const t of [`t${String(page * 3).padStart(3, "0")}`, `t${String(59 - page).padStart(3, "0")}`]) {
          if (deleted.has(t)) continue;
          deleted.add(t);
          await c.unary("deleteToken", { pool: p, token: t });
        }
        await c.unary("generateTokens", { pool: p, tokens: [`a-new${page}`, `z-new${page}`] });
        added += 2;
        await c.unary("assignToken", { pool: p, owner: "moving" }).catch(() => undefined);
      });
      const stayed = ids(60).filter((t) => !deleted.has(t));
      for (const t of stayed) expect(listed.filter((x) => x === t)).toHaveLength(1);
      expect(new Set(listed).size).toBe(listed.length);
      expect(listed).toEqual([...listed].sort());
      for (const t of listed) expect(stayed.includes(t) || deleted.has(t) || t.includes("-new")).toBe(true);
      expect(added).toBeGreaterThan(0);
    });

    it("cordon: the token is not assignable, its lease runs on, events are streamed and GetPool counts it", async () => {
      const p = await pool(2);
      const held = (await c.unary("assignToken", { pool: p, owner: "h" })).lease as LeaseJson;
      const other = ids(2).find((t) => t !== held.token)!;
      const r = await c.unary("cordonToken", { pool: p, token: other });
      expect(r.token).toMatchObject({ token: other, cordoned: true, state: "TOKEN_STATE_FREE" });
      expect(await counts(p)).toMatchObject({ total: 2, available: 0, held: 1, cordoned: 1 });
      await rpcError(c.unary("assignToken", { pool: p, owner: "x" }), "not_found", "POOL_EXHAUSTED");
      // Cordoning a held token: the lease runs on and can be kept alive; released, it stays out of service.
      const again = await c.unary("cordonToken", { pool: p, token: held.token });
      expect(again.token).toMatchObject({ cordoned: true, state: "TOKEN_STATE_HELD", lease: { generation: held.generation } });
      await c.unary("cordonToken", { pool: p, token: held.token }); // idempotent: no second event
      const kept = await c.unary("keepAlive", { pool: p, tokens: [held.token] });
      expect((kept.results as JsonObject[])[0]).toMatchObject({ status: "KEEP_ALIVE_STATUS_OK" });
      expect(await c.unary("getToken", { pool: p, token: held.token })).toMatchObject({ cordoned: true, state: "TOKEN_STATE_HELD" });
      await c.unary("releaseToken", { pool: p, token: held.token });
      expect(await counts(p)).toMatchObject({ available: 0, held: 0, cordoned: 2 });
      expect((await c.unary("getPool", { name: p })).pool).not.toHaveProperty("held");
      // Uncordoned, a token goes to a waiter first.
      const waiter = c.unary("assignToken", { pool: p, owner: "w", waitTimeout: "10s" });
      await sleep(100);
      const back = await c.unary("uncordonToken", { pool: p, token: other });
      expect(back.token).toMatchObject({ token: other });
      expect(((await waiter).lease as LeaseJson).token).toBe(other);
      await c.unary("uncordonToken", { pool: p, token: held.token });
      expect(await counts(p)).toMatchObject({ available: 1, held: 1 });
      // The events, replayed from the pool's start (a stream opens lazily, on the first read).
      const abort = new AbortController();
      const types = ["LEASE_EVENT_TYPE_TOKEN_CORDONED", "LEASE_EVENT_TYPE_TOKEN_UNCORDONED"];
      const iter = c.watch({ pool: p, afterSequence: "1", types }, { signal: abort.signal })[Symbol.asyncIterator]();
      const events = [];
      while (events.length < 4) {
        const next = await iter.next();
        if (next.done) break;
        if (next.value.event) events.push(next.value.event as JsonObject);
      }
      abort.abort();
      expect(events.map((e) => [e.type, e.token])).toEqual([
        ["LEASE_EVENT_TYPE_TOKEN_CORDONED", other],
        ["LEASE_EVENT_TYPE_TOKEN_CORDONED", held.token],
        ["LEASE_EVENT_TYPE_TOKEN_UNCORDONED", other],
        ["LEASE_EVENT_TYPE_TOKEN_UNCORDONED", held.token],
      ]);
      expect(events[1]).toMatchObject({ owner: "h", generation: held.generation });
      await rpcError(c.unary("cordonToken", { pool: p, token: "missing" }), "not_found", "TOKEN_NOT_FOUND");
      await rpcError(c.unary("uncordonToken", { pool: "nope-" + p, token: "t000" }), "not_found", "POOL_NOT_FOUND");
    });
  });

  describe(`${store} store: the new RPCs over every protocol`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(store);
    });
    afterAll(async () => {
      await server.close();
    });

    for (const [clientName, makeClient] of Object.entries(CLIENTS)) {
      it(clientName, async () => {
        const c = makeClient(server);
        try {
          const name = uniquePool();
          await c.unary("createPool", { name, maxLeasesPerOwner: 3, initialTokens: 4 });
          expect((await c.unary("updatePool", { name, maxLeasesPerOwner: 2 })).pool).toMatchObject({ name, maxLeasesPerOwner: 2 });
          const gang = await c.unary("assignTokens", { pool: name, owner: "o", count: 2 });
          expect(leasesOf(gang)).toHaveLength(2);
          const e = await rpcError(c.unary("assignTokens", { pool: name, owner: "o", count: 1 }), "resource_exhausted", "OWNER_QUOTA_EXCEEDED");
          expect(e.metadata).toMatchObject({ limit: "2", used: "2", requested: "1" });
          const listed = await c.unary("listTokens", { pool: name, state: "TOKEN_STATE_HELD" });
          expect(tokensOf(listed).map((t) => t.token).sort()).toEqual(leasesOf(gang).map((l) => l.token).sort());
          const token = String(leasesOf(gang)[0]!.token);
          expect((await c.unary("cordonToken", { pool: name, token })).token).toMatchObject({ token, cordoned: true });
          expect((await c.unary("getPool", { name })).pool).toMatchObject({ cordoned: 1 });
          expect((await c.unary("uncordonToken", { pool: name, token })).token).toMatchObject({ token });
          expect((await c.unary("getPool", { name })).pool).not.toHaveProperty("cordoned");
        } finally {
          c.close();
        }
      }, 30_000);
    }
  });
}
