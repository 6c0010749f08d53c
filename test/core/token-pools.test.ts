// Example tests of the core: each operation and each error value, with a fake clock (plain numbers).

import { describe, expect, it } from "vitest";
import { TokenPools } from "../../src/core/token-pools.js";
import type { LeaseEvent } from "../../src/core/types.js";

const T0 = 1_700_000_000_000;

function setup(config: { leaseTtlMs?: number; idleTtlMs?: number; maxTokens?: number } = {}) {
  const events: LeaseEvent[] = [];
  const core = new TokenPools({ onEvent: (e) => events.push(e), startMs: T0 });
  const created = core.createPool("p", config, T0);
  expect(created.ok).toBe(true);
  return { core, events };
}

const value = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(`unexpected error ${JSON.stringify(r.error)}`);
  return r.value;
};

describe("pools", () => {
  it("creates with defaults, rejects duplicates and bad config with the field named", () => {
    const core = new TokenPools();
    expect(value(core.createPool("a", {}, T0))).toMatchObject({
      name: "a",
      config: { leaseTtlMs: 60_000, idleTtlMs: 300_000, maxTokens: 1_000_000 },
      total: 0,
      generation: 0,
      sequence: 0,
    });
    expect(core.createPool("a", {}, T0)).toEqual({ ok: false, error: { code: "POOL_EXISTS", pool: "a" } });
    expect(core.createPool("bad name!", {}, T0)).toMatchObject({ ok: false, error: { code: "INVALID_ARGUMENT", field: "name" } });
    expect(core.createPool("b", { leaseTtlMs: 0 }, T0)).toMatchObject({ ok: false, error: { field: "lease_ttl" } });
    expect(core.createPool("b", { idleTtlMs: -1 }, T0)).toMatchObject({ ok: false, error: { field: "idle_ttl" } });
    expect(core.createPool("b", { maxTokens: 0 }, T0)).toMatchObject({ ok: false, error: { field: "max_tokens" } });
    expect(core.getPool("zz")).toEqual({ ok: false, error: { code: "POOL_NOT_FOUND", pool: "zz" } });
  });

  it("lists pools in name order, a page at a time", () => {
    const core = new TokenPools();
    for (const n of ["m", "c", "x", "a"]) core.createPool(n, {}, T0);
    expect(core.listPools(undefined, 10).map((p) => p.name)).toEqual(["a", "c", "m", "x"]);
    expect(core.listPools("c", 1).map((p) => p.name)).toEqual(["m"]);
    expect(core.listPools("d", 10).map((p) => p.name)).toEqual(["m", "x"]);
    value(core.deletePool("m", T0));
    expect(core.listPools(undefined, 10).map((p) => p.name)).toEqual(["a", "c", "x"]);
    expect(core.deletePool("m", T0)).toMatchObject({ ok: false, error: { code: "POOL_NOT_FOUND" } });
  });

  it("deleting a pool times out its waiters and frees its timers", () => {
    const { core, events } = setup({ leaseTtlMs: 1000 });
    value(core.generate("p", { ids: ["a"] }, T0));
    value(core.assign("p", "o", {}, T0));
    const w = value(core.assign("p", "late", { waitUntil: T0 + 5000 }, T0));
    expect(w.kind).toBe("waiting");
    events.length = 0;
    value(core.deletePool("p", T0));
    expect(events.map((e) => [e.type, e.owner])).toEqual([["WAITER_TIMED_OUT", "late"]]);
    expect(core.nextDeadline()).toBeUndefined();
    // A recreated pool starts afresh.
    expect(value(core.createPool("p", {}, T0))).toMatchObject({ total: 0, sequence: 0 });
  });
});

describe("tokens", () => {
  it("generates random url-safe 128-bit ids or the given ids, all or nothing", () => {
    const { core, events } = setup({ maxTokens: 4 });
    const ids = value(core.generate("p", { count: 2 }, T0));
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(core.generate("p", { ids: ["x", "x"] }, T0)).toMatchObject({ ok: false, error: { code: "TOKEN_EXISTS", token: "x" } });
    expect(core.generate("p", { ids: ["y", ids[0]!] }, T0)).toMatchObject({ ok: false, error: { code: "TOKEN_EXISTS" } });
    expect(core.generate("p", { ids: ["has space"] }, T0)).toMatchObject({ ok: false, error: { code: "INVALID_ARGUMENT", field: "tokens[0]" } });
    expect(core.generate("p", { count: 3 }, T0)).toEqual({ ok: false, error: { code: "POOL_FULL", pool: "p", maxTokens: 4 } });
    expect(value(core.getPool("p")).total).toBe(2);
    expect(events.map((e) => e.type)).toEqual(["GENERATED", "GENERATED"]);
    expect(events[0]).toMatchObject({ sequence: 1, pool: "p", token: ids[0], owner: "", generation: 0, time: T0, idleExpireTime: T0 + 300_000 });
  });

  it("assigns a free token with a fencing generation and deadlines, never a held one", () => {
    const { core } = setup({ leaseTtlMs: 1000, idleTtlMs: 5000 });
    value(core.generate("p", { ids: ["a", "b"] }, T0));
    const first = value(core.assign("p", "o1", {}, T0));
    const second = value(core.assign("p", "o2", { leaseTtlMs: 3000 }, T0 + 10));
    if (first.kind !== "leased" || second.kind !== "leased") throw new Error("expected leases");
    expect(new Set([first.lease.token, second.lease.token])).toEqual(new Set(["a", "b"]));
    expect(first.lease).toMatchObject({ owner: "o1", generation: 1, expireTime: T0 + 1000, idleExpireTime: T0 + 5000, leaseTtlMs: 1000 });
    expect(second.lease).toMatchObject({ generation: 2, expireTime: T0 + 3010 });
    expect(second.available).toBe(0);
    expect(core.assign("p", "o3", {}, T0)).toEqual({ ok: false, error: { code: "POOL_EXHAUSTED", pool: "p", waiters: 0 } });
    expect(core.assign("nope", "o3", {}, T0)).toMatchObject({ ok: false, error: { code: "POOL_NOT_FOUND" } });
    expect(core.assign("p", "o", { leaseTtlMs: -5 }, T0)).toMatchObject({ ok: false, error: { field: "lease_ttl" } });
  });

  it("picks uniformly among free tokens", () => {
    const core = new TokenPools();
    core.createPool("u", {}, T0);
    value(core.generate("u", { ids: ["a", "b", "c", "d"] }, T0));
    const counts = new Map<string, number>();
    for (let i = 0; i < 8000; i++) {
      const r = value(core.assign("u", "o", {}, T0));
      if (r.kind !== "leased") throw new Error("expected a lease");
      counts.set(r.lease.token, (counts.get(r.lease.token) ?? 0) + 1);
      value(core.release("u", r.lease.token, {}, T0));
    }
    for (const id of ["a", "b", "c", "d"]) expect(counts.get(id)!).toBeGreaterThan(1700); // 2000 expected each
  });

  it("returns the same lease for a retried request id while it lives", () => {
    const { core, events } = setup();
    value(core.generate("p", { count: 3 }, T0));
    const a = value(core.assign("p", "o", { requestId: "r" }, T0));
    const n = events.length;
    const b = value(core.assign("p", "o", { requestId: "r" }, T0 + 5));
    expect(b).toEqual(a);
    expect(events.length).toBe(n);
    const other = value(core.assign("p", "someone-else", { requestId: "r" }, T0));
    if (other.kind !== "leased" || a.kind !== "leased") throw new Error("expected leases");
    expect(other.lease.token).not.toBe(a.lease.token);
    value(core.release("p", a.lease.token, {}, T0));
    const c = value(core.assign("p", "o", { requestId: "r" }, T0));
    if (c.kind !== "leased") throw new Error("expected a lease");
    expect(c.lease.generation).toBeGreaterThan(a.lease.generation);
  });

  it("releases with generation and owner checks; free tokens are NOT_HELD", () => {
    const { core } = setup();
    value(core.generate("p", { ids: ["a"] }, T0));
    const r = value(core.assign("p", "o", {}, T0));
    if (r.kind !== "leased") throw new Error("expected a lease");
    expect(core.release("p", "a", { generation: 99 }, T0)).toMatchObject({ ok: false, error: { code: "LEASE_MISMATCH" } });
    expect(core.release("p", "a", { owner: "x" }, T0)).toMatchObject({ ok: false, error: { code: "LEASE_MISMATCH" } });
    expect(value(core.get("p", "a")).state).toBe("held");
    expect(value(core.release("p", "a", { generation: r.lease.generation, owner: "o" }, T0))).toEqual({ available: 1 });
    expect(core.release("p", "a", {}, T0)).toEqual({ ok: false, error: { code: "NOT_HELD", pool: "p", token: "a" } });
    expect(core.release("p", "zz", {}, T0)).toMatchObject({ ok: false, error: { code: "TOKEN_NOT_FOUND" } });
  });

  it("keeps alive per token: extends held leases, refreshes idle deadlines, reports unknown ids", () => {
    const { core, events } = setup({ leaseTtlMs: 1000, idleTtlMs: 4000 });
    value(core.generate("p", { ids: ["a", "b"] }, T0));
    const r = value(core.assign("p", "o", {}, T0));
    if (r.kind !== "leased") throw new Error("expected a lease");
    const held = r.lease.token;
    const free = held === "a" ? "b" : "a";
    events.length = 0;
    const res = value(core.keepAlive("p", [held, free, "ghost"], T0 + 500));
    expect(res[0]).toMatchObject({ status: "ok", lease: { expireTime: T0 + 1500, generation: r.lease.generation }, idleExpireTime: T0 + 4500 });
    expect(res[1]).toEqual({ token: free, status: "ok", idleExpireTime: T0 + 4500, lease: undefined });
    expect(res[2]).toEqual({ token: "ghost", status: "not_found", idleExpireTime: undefined, lease: undefined });
    expect(events.map((e) => [e.type, e.token, e.owner])).toEqual([
      ["RENEWED", held, "o"],
      ["RENEWED", free, ""],
    ]);
    expect(core.keepAlive("nope", ["a"], T0)).toMatchObject({ ok: false, error: { code: "POOL_NOT_FOUND" } });
  });

  it("deletes held or free tokens and reports the lease on the event", () => {
    const { core, events } = setup();
    value(core.generate("p", { ids: ["a", "b"] }, T0));
    const r = value(core.assign("p", "o", {}, T0));
    if (r.kind !== "leased") throw new Error("expected a lease");
    value(core.delete("p", r.lease.token, T0));
    expect(events.at(-1)).toMatchObject({ type: "DELETED", token: r.lease.token, owner: "o", generation: r.lease.generation });
    expect(core.get("p", r.lease.token)).toMatchObject({ ok: false, error: { code: "TOKEN_NOT_FOUND" } });
    expect(core.delete("p", r.lease.token, T0)).toMatchObject({ ok: false, error: { code: "TOKEN_NOT_FOUND" } });
    expect(value(core.getPool("p"))).toMatchObject({ total: 1, available: 1, held: 0 });
  });
});

describe("time", () => {
  it("expires an unrenewed lease exactly at its deadline and returns the token", () => {
    const { core, events } = setup({ leaseTtlMs: 1000, idleTtlMs: 0 });
    value(core.generate("p", { ids: ["a"] }, T0));
    value(core.assign("p", "o", {}, T0));
    expect(core.nextDeadline()).toBeLessThanOrEqual(T0 + 1000);
    core.advance(T0 + 999, 100);
    expect(value(core.get("p", "a")).state).toBe("held");
    core.advance(T0 + 1000, 100);
    expect(value(core.get("p", "a")).state).toBe("free");
    expect(events.at(-1)).toMatchObject({ type: "LEASE_EXPIRED", token: "a", owner: "o", generation: 1, time: T0 + 1000 });
    expect(core.nextDeadline()).toBeUndefined(); // idle TTL 0: nothing left to expire
  });

  it("deletes a token that gets no keep-alive within the idle TTL", () => {
    const { core, events } = setup({ idleTtlMs: 2000 });
    value(core.generate("p", { ids: ["kept", "idle"] }, T0));
    value(core.keepAlive("p", ["kept"], T0 + 1500));
    core.advance(T0 + 2000, 100);
    expect(core.get("p", "idle")).toMatchObject({ ok: false, error: { code: "TOKEN_NOT_FOUND" } });
    expect(value(core.get("p", "kept")).state).toBe("free");
    expect(events.at(-1)).toMatchObject({ type: "IDLE_EXPIRED", token: "idle", time: T0 + 2000 });
  });

  it("never idles a held token before its lease ends (a lease longer than the idle TTL)", () => {
    const { core, events } = setup({ leaseTtlMs: 10_000, idleTtlMs: 2000 });
    value(core.generate("p", { ids: ["a"] }, T0));
    const r = value(core.assign("p", "o", {}, T0));
    if (r.kind !== "leased") throw new Error("expected a lease");
    expect(r.lease.idleExpireTime).toBe(T0 + 10_000);
    core.advance(T0 + 9_999, 100);
    expect(value(core.get("p", "a")).state).toBe("held");
    core.advance(T0 + 10_000, 100);
    // Lease expiry first, then idle expiry: both were due.
    expect(events.slice(-2).map((e) => e.type)).toEqual(["LEASE_EXPIRED", "IDLE_EXPIRED"]);
  });

  it("hands a released token to the oldest waiter, and times waiters out", () => {
    const { core, events } = setup();
    value(core.generate("p", { ids: ["a"] }, T0));
    const held = value(core.assign("p", "h", {}, T0));
    const w1 = value(core.assign("p", "w1", { waitUntil: T0 + 1000 }, T0));
    const w2 = value(core.assign("p", "w2", { waitUntil: T0 + 500 }, T0 + 1));
    if (held.kind !== "leased" || w1.kind !== "waiting" || w2.kind !== "waiting") throw new Error("unexpected outcome");
    expect(value(core.getPool("p")).waiters).toBe(2);
    value(core.release("p", "a", {}, T0 + 100));
    expect(events.slice(-2).map((e) => [e.type, e.owner, e.waiterId])).toEqual([
      ["RELEASED", "h", undefined],
      ["ASSIGNED", "w1", w1.waiterId],
    ]);
    core.advance(T0 + 501, 100);
    expect(events.at(-1)).toMatchObject({ type: "WAITER_TIMED_OUT", owner: "w2", waiterId: w2.waiterId, token: "" });
    expect(value(core.getPool("p")).waiters).toBe(0);
  });

  it("cancels a waiter in O(1) without an event", () => {
    const { core, events } = setup();
    const w = value(core.assign("p", "w", { waitUntil: T0 + 1000 }, T0));
    if (w.kind !== "waiting") throw new Error("expected to wait");
    const n = events.length;
    expect(core.cancelWaiter(w.waiterId)).toBe(true);
    expect(core.cancelWaiter(w.waiterId)).toBe(false);
    expect(events.length).toBe(n);
    value(core.generate("p", { ids: ["a"] }, T0));
    expect(value(core.getPool("p"))).toMatchObject({ available: 1, waiters: 0 });
  });

  it("expires 200k co-due leases in bounded batches", () => {
    const core = new TokenPools({ startMs: T0 });
    core.createPool("big", { leaseTtlMs: 1000, idleTtlMs: 0, maxTokens: 1_000_000 }, T0);
    value(core.generate("big", { count: 200_000 }, T0));
    for (let i = 0; i < 200_000; i++) core.assign("big", "o", {}, T0);
    let batches = 0;
    for (;;) {
      const r = core.advance(T0 + 1000, 10_000);
      expect(r.processed).toBeLessThanOrEqual(10_000);
      batches++;
      if (!r.more) break;
    }
    expect(batches).toBeGreaterThanOrEqual(20);
    expect(value(core.getPool("big"))).toMatchObject({ held: 0, available: 200_000 });
  });
});

describe("recovery", () => {
  it("restores pools and tokens without events; generations and sequences continue above the marks", () => {
    const events: LeaseEvent[] = [];
    const core = new TokenPools({ onEvent: (e) => events.push(e), startMs: T0 });
    value(core.restorePool("p", { leaseTtlMs: 1000, idleTtlMs: 0, maxTokens: 10, maxLeasesPerOwner: 0 }, { generation: 41, sequence: 90 }));
    value(core.restoreToken("p", { token: "held", idleExpireTime: undefined, lease: { owner: "o", generation: 40, leaseTtlMs: 1000, expireTime: T0 + 500, requestId: "r" } }, T0));
    value(core.restoreToken("p", { token: "free", idleExpireTime: undefined, lease: undefined }, T0));
    expect(events).toEqual([]);
    expect(core.restoreToken("p", { token: "free", idleExpireTime: undefined, lease: undefined }, T0)).toMatchObject({ ok: false, error: { code: "TOKEN_EXISTS" } });
    expect(value(core.getPool("p"))).toMatchObject({ total: 2, held: 1, available: 1, generation: 41, sequence: 90 });
    const again = value(core.assign("p", "o", { requestId: "r" }, T0));
    if (again.kind !== "leased") throw new Error("expected a lease");
    expect(again.lease).toMatchObject({ token: "held", generation: 40 }); // idempotency survives recovery
    const fresh = value(core.assign("p", "n", {}, T0));
    if (fresh.kind !== "leased") throw new Error("expected a lease");
    expect(fresh.lease.generation).toBe(42);
    expect(events[0]!.sequence).toBe(91);
    core.advance(T0 + 500, 100);
    expect(events.at(-1)).toMatchObject({ type: "LEASE_EXPIRED", token: "held", generation: 40 });
  });
});

describe("recycle queue", () => {
  const lease = (owner: string, generation: number) => ({ owner, generation, leaseTtlMs: 1000, expireTime: T0 + 500, requestId: undefined });

  it("releases the oldest recyclable lease still held, skipping ones that ended and ones not on the queue", () => {
    const { core, events } = setup({ idleTtlMs: 0, leaseTtlMs: 100 });
    value(core.generate("p", { ids: ["a", "b", "c", "d"] }, T0));
    const plain = value(core.assign("p", "legacy", { leaseTtlMs: 10_000 }, T0));
    const first = value(core.assign("p", "legacy", { recyclable: true }, T0));
    const second = value(core.assign("p", "legacy", { recyclable: true }, T0 + 10));
    const third = value(core.assign("p", "legacy", { recyclable: true }, T0 + 20));
    if (plain.kind !== "leased" || first.kind !== "leased" || second.kind !== "leased" || third.kind !== "leased") throw new Error("not leased");
    expect(first.lease.recyclable).toBe(true);
    expect(plain.lease.recyclable).toBeUndefined();
    // The first ends by name: it leaves the queue, so the second is the oldest now.
    value(core.release("p", first.lease.token, {}, T0 + 30));
    const r1 = value(core.releaseOldestRecyclable("p", T0 + 40));
    expect(r1).toEqual({ released: second.lease.token, available: 2 });
    expect(events.at(-1)).toMatchObject({ type: "RELEASED", token: second.lease.token, owner: "legacy", generation: second.lease.generation });
    // The third expires (granted at +20, ttl 100): nothing recyclable is left, the plain lease stays.
    core.advance(T0 + 121, 100);
    expect(value(core.get("p", third.lease.token)).state).toBe("free");
    expect(value(core.releaseOldestRecyclable("p", T0 + 130))).toEqual({ released: undefined, available: 3 });
    expect(value(core.get("p", plain.lease.token)).state).toBe("held");
    expect(core.releaseOldestRecyclable("nope", T0)).toMatchObject({ ok: false, error: { code: "POOL_NOT_FOUND" } });
  });

  it("keeps the flag through a waiter's grant and a token's re-assignment", () => {
    const { core } = setup({ idleTtlMs: 0 });
    value(core.generate("p", { ids: ["only"] }, T0));
    const held = value(core.assign("p", "x", {}, T0));
    const waiting = value(core.assign("p", "legacy", { recyclable: true, waitUntil: T0 + 1000 }, T0));
    expect(waiting.kind).toBe("waiting");
    if (held.kind !== "leased") throw new Error("not leased");
    value(core.release("p", "only", {}, T0 + 1));
    expect(value(core.get("p", "only")).lease).toMatchObject({ owner: "legacy", recyclable: true });
    expect(value(core.releaseOldestRecyclable("p", T0 + 2)).released).toBe("only");
    // Assigned again without the flag: not on the queue.
    value(core.assign("p", "legacy", {}, T0 + 3));
    expect(value(core.releaseOldestRecyclable("p", T0 + 4)).released).toBeUndefined();
  });

  it("restores the queue from records and serves it in grant (generation) order", () => {
    const core = new TokenPools({ startMs: T0 });
    value(core.restorePool("p", { leaseTtlMs: 1000, idleTtlMs: 0, maxTokens: 10, maxLeasesPerOwner: 0 }, { generation: 9, sequence: 20 }));
    // Storage order (by token id) is not grant order.
    value(core.restoreToken("p", { token: "a", idleExpireTime: undefined, lease: { ...lease("legacy", 7), recyclable: true } }, T0));
    value(core.restoreToken("p", { token: "b", idleExpireTime: undefined, lease: lease("legacy", 3) }, T0));
    value(core.restoreToken("p", { token: "c", idleExpireTime: undefined, lease: { ...lease("legacy", 5), recyclable: true } }, T0));
    expect(value(core.releaseOldestRecyclable("p", T0)).released).toBe("c");
    expect(value(core.releaseOldestRecyclable("p", T0)).released).toBe("a");
    expect(value(core.releaseOldestRecyclable("p", T0)).released).toBeUndefined();
    expect(value(core.get("p", "b")).state).toBe("held");
  });
});
