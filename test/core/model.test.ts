// Model-based property test: random command sequences run against the core and against a naive
// reference model (plain maps and array scans). After every step the two must agree exactly.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TokenPools } from "../../src/core/token-pools.js";
import type { LeaseEvent } from "../../src/core/types.js";

interface MToken {
  held: boolean;
  owner: string;
  generation: number;
  leaseTtl: number;
  leaseExp: number;
  idleExp: number; // Infinity = never
  requestId: string | undefined;
}
interface MWaiter {
  id: number;
  owner: string;
  until: number;
  ttl: number | undefined;
  requestId: string | undefined;
}

/** The reference: deliberately simple, every query a scan. */
class Model {
  tokens = new Map<string, MToken>();
  waiters: MWaiter[] = [];
  generation = 0;
  constructor(
    readonly leaseTtl: number,
    readonly idleTtl: number,
    readonly maxTokens: number,
  ) {}
  free(): string[] {
    return [...this.tokens].filter(([, t]) => !t.held).map(([id]) => id);
  }
  idle(now: number, leaseExp?: number): number {
    if (this.idleTtl === 0) return Infinity;
    return Math.max(now + this.idleTtl, leaseExp ?? -Infinity);
  }
  grant(id: string, owner: string, ttl: number | undefined, requestId: string | undefined, now: number): MToken {
    const t = this.tokens.get(id)!;
    const leaseTtl = ttl ?? this.leaseTtl;
    Object.assign(t, {
      held: true,
      owner,
      generation: ++this.generation,
      leaseTtl,
      leaseExp: now + leaseTtl,
      requestId,
    });
    t.idleExp = this.idle(now, t.leaseExp);
    return t;
  }
  /** A token became free: the oldest waiter gets it. Returns the waiter served, if any. */
  becameFree(id: string, now: number): MWaiter | undefined {
    const w = this.waiters.shift();
    if (w) this.grant(id, w.owner, w.ttl, w.requestId, now);
    return w;
  }
}

type Cmd =
  | { op: "generateIds"; ids: string[] }
  | { op: "generateCount"; count: number }
  | { op: "assign"; owner: string; requestId?: string; ttl?: number; wait?: number }
  | { op: "keepAlive"; tokens: string[] }
  | { op: "release"; pick: number; generationDelta?: number; owner?: string }
  | { op: "delete"; pick: number }
  | { op: "cancel"; pick: number }
  | { op: "advance"; by: number };

const owners = fc.constantFrom("a", "b", "c");
const tokenNames = fc.constantFrom("t0", "t1", "t2", "t3", "t4", "t5", "t6");
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant("generateIds" as const), ids: fc.array(tokenNames, { minLength: 1, maxLength: 3 }) }),
  fc.record({ op: fc.constant("generateCount" as const), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record(
    {
      op: fc.constant("assign" as const),
      owner: owners,
      requestId: fc.constantFrom("r1", "r2"),
      ttl: fc.integer({ min: 1, max: 400 }),
      wait: fc.integer({ min: 1, max: 400 }),
    },
    { requiredKeys: ["op", "owner"] },
  ),
  fc.record({ op: fc.constant("keepAlive" as const), tokens: fc.array(tokenNames, { maxLength: 3 }) }),
  fc.record(
    { op: fc.constant("release" as const), pick: fc.nat(), generationDelta: fc.constantFrom(0, 0, 1, -1), owner: owners },
    { requiredKeys: ["op", "pick"] },
  ),
  fc.record({ op: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("cancel" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("advance" as const), by: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 2000 })) }),
);

function run(config: { leaseTtl: number; idleTtl: number; maxTokens: number }, cmds: Cmd[], seed: number): void {
  let rng = seed >>> 0 || 1;
  const randomIndex = (n: number): number => {
    rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
    return rng % n;
  };
  let counter = 0;
  const events: LeaseEvent[] = [];
  const core = new TokenPools({ onEvent: (e) => events.push(e), randomIndex, newTokenId: () => `g${counter++}` });
  const model = new Model(config.leaseTtl, config.idleTtl, config.maxTokens);
  let now = 1_000;
  let lastSequence = 0;
  let lastGeneration = 0;
  const waiterIds: number[] = [];
  const leases = new Map<string, { token: string; generation: number }>();

  expect(core.createPool("p", { leaseTtlMs: config.leaseTtl, idleTtlMs: config.idleTtl, maxTokens: config.maxTokens }, now).ok).toBe(true);

  /** Takes the events produced since the last call, checking sequence and generation monotonicity. */
  const take = (): LeaseEvent[] => {
    const out = events.splice(0);
    for (const e of out) {
      expect(e.sequence).toBe(++lastSequence);
      if (e.type === "ASSIGNED") {
        expect(e.generation).toBeGreaterThan(lastGeneration);
        lastGeneration = e.generation;
      }
    }
    return out;
  };

  const compare = (): void => {
    const stats = core.getPool("p");
    if (!stats.ok) throw new Error("pool vanished");
    const free = model.free();
    expect(stats.value.total).toBe(model.tokens.size);
    expect(stats.value.available).toBe(free.length);
    expect(stats.value.held).toBe(model.tokens.size - free.length);
    expect(stats.value.held + stats.value.available).toBe(stats.value.total);
    expect(stats.value.waiters).toBe(model.waiters.length);
    expect(stats.value.generation).toBe(model.generation);
    for (const [id, t] of model.tokens) {
      const got = core.get("p", id);
      if (!got.ok) throw new Error(`token ${id} missing from core`);
      expect(got.value.state).toBe(t.held ? "held" : "free");
      expect(got.value.idleExpireTime ?? Infinity).toBe(t.idleExp);
      if (t.held) {
        expect(got.value.lease).toMatchObject({ owner: t.owner, generation: t.generation, expireTime: t.leaseExp, leaseTtlMs: t.leaseTtl });
      }
    }
  };

  /** Applies expiries the way the driver does: wake at each next deadline up to `target`. */
  const advanceTo = (target: number): void => {
    for (let guard = 0; guard < 10_000; guard++) {
      const next = core.nextDeadline();
      const step = next === undefined || next > target ? target : Math.max(next, now);
      now = step;
      core.advance(now, 1_000_000);
      for (const e of take()) {
        if (e.type === "LEASE_EXPIRED") {
          const t = model.tokens.get(e.token)!;
          expect(t.held).toBe(true);
          expect(e.time).toBe(t.leaseExp); // fired exactly at the deadline...
          expect(now).toBe(t.leaseExp); // ...and processed on that very tick
          expect(e.generation).toBe(t.generation);
          t.held = false;
          t.owner = "";
          t.requestId = undefined;
          t.leaseExp = Infinity;
        } else if (e.type === "IDLE_EXPIRED") {
          const t = model.tokens.get(e.token)!;
          expect(t.held).toBe(false);
          expect(e.time).toBe(t.idleExp);
          expect(now).toBe(t.idleExp);
          model.tokens.delete(e.token);
        } else if (e.type === "WAITER_TIMED_OUT") {
          const i = model.waiters.findIndex((w) => w.id === e.waiterId);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(model.waiters[i]!.until).toBe(now);
          model.waiters.splice(i, 1);
        } else if (e.type === "ASSIGNED") {
          const w = model.becameFree(e.token, now);
          expect(w?.id).toBe(e.waiterId);
        } else {
          throw new Error(`unexpected ${e.type} during advance`);
        }
      }
      // Nothing due may be left behind at the current time.
      for (const t of model.tokens.values()) {
        if (t.held) expect(t.leaseExp).toBeGreaterThan(now);
        else expect(t.idleExp).toBeGreaterThan(now);
      }
      for (const w of model.waiters) expect(w.until).toBeGreaterThan(now);
      if (now === target) return;
    }
    throw new Error("advance did not converge");
  };

  const pickToken = (pick: number): string | undefined => {
    const ids = [...model.tokens.keys(), "ghost"];
    return ids[pick % ids.length];
  };

  for (const c of cmds) {
    switch (c.op) {
      case "generateIds":
      case "generateCount": {
        const spec = c.op === "generateIds" ? { ids: c.ids } : { count: c.count };
        const count = c.op === "generateIds" ? c.ids.length : c.count;
        const dup = c.op === "generateIds" && (c.ids.some((id) => model.tokens.has(id)) || new Set(c.ids).size !== c.ids.length);
        const r = core.generate("p", spec, now);
        if (dup) {
          expect(r).toMatchObject({ ok: false, error: { code: "TOKEN_EXISTS" } });
        } else if (model.tokens.size + count > model.maxTokens) {
          expect(r).toMatchObject({ ok: false, error: { code: "POOL_FULL" } });
        } else {
          if (!r.ok) throw new Error(JSON.stringify(r.error));
          const evs = take();
          const expected: string[] = [];
          for (const id of r.value) {
            model.tokens.set(id, { held: false, owner: "", generation: 0, leaseTtl: 0, leaseExp: Infinity, idleExp: model.idle(now), requestId: undefined });
            expected.push(`GENERATED ${id}`);
            const w = model.becameFree(id, now);
            if (w) expected.push(`ASSIGNED ${id} ${w.id}`);
          }
          expect(evs.map((e) => `${e.type} ${e.token}${e.waiterId ? ` ${e.waiterId}` : ""}`)).toEqual(expected);
        }
        expect(take()).toEqual([]);
        break;
      }
      case "assign": {
        const key = c.requestId;
        const existing = key === undefined ? undefined : [...model.tokens].find(([, t]) => t.held && t.owner === c.owner && t.requestId === key);
        const r = core.assign("p", c.owner, { leaseTtlMs: c.ttl, requestId: c.requestId, waitUntil: c.wait === undefined ? undefined : now + c.wait }, now);
        if (!existing && model.free().length === 0 && c.wait === undefined) {
          expect(r).toMatchObject({ ok: false, error: { code: "POOL_EXHAUSTED", pool: "p" } });
          expect(take()).toEqual([]);
          break;
        }
        if (!r.ok) throw new Error(JSON.stringify(r.error));
        if (existing) {
          // Idempotent retry: the same lease, no event, no new generation.
          expect(r.value).toMatchObject({ kind: "leased", lease: { token: existing[0], generation: existing[1].generation } });
          expect(take()).toEqual([]);
        } else if (model.free().length === 0) {
          if (c.wait === undefined) throw new Error("expected POOL_EXHAUSTED");
          expect(r.value.kind).toBe("waiting");
          if (r.value.kind !== "waiting") break;
          const joined = key === undefined ? undefined : model.waiters.find((w) => w.owner === c.owner && w.requestId === key);
          if (joined) {
            // A retry of a waiting request joins the same wait.
            expect(r.value.waiterId).toBe(joined.id);
            expect(take()).toEqual([]);
            break;
          }
          model.waiters.push({ id: r.value.waiterId, owner: c.owner, until: now + c.wait, ttl: c.ttl, requestId: c.requestId });
          waiterIds.push(r.value.waiterId);
          expect(take()).toEqual([]);
        } else {
          if (r.value.kind !== "leased") throw new Error("expected a lease");
          const token = r.value.lease.token;
          expect(model.tokens.get(token)?.held).toBe(false); // never a held token
          const t = model.grant(token, c.owner, c.ttl, c.requestId, now);
          expect(r.value.lease).toMatchObject({ owner: c.owner, generation: t.generation, expireTime: t.leaseExp });
          expect(r.value.available).toBe(model.free().length);
          leases.set(token, { token, generation: t.generation });
          expect(take().map((e) => `${e.type} ${e.token}`)).toEqual([`ASSIGNED ${token}`]);
        }
        break;
      }
      case "keepAlive": {
        const r = core.keepAlive("p", c.tokens, now);
        if (!r.ok) throw new Error(JSON.stringify(r.error));
        const expected: string[] = [];
        c.tokens.forEach((id, i) => {
          const t = model.tokens.get(id);
          expect(r.value[i]!.status).toBe(t ? "ok" : "not_found");
          if (!t) return;
          if (t.held) t.leaseExp = now + t.leaseTtl;
          t.idleExp = model.idle(now, t.held ? t.leaseExp : undefined);
          expected.push(`RENEWED ${id}`);
        });
        expect(take().map((e) => `${e.type} ${e.token}`)).toEqual(expected);
        break;
      }
      case "release": {
        const id = pickToken(c.pick)!;
        const t = model.tokens.get(id);
        const generation = t && c.generationDelta !== undefined ? t.generation + c.generationDelta : undefined;
        const r = core.release("p", id, { generation, owner: c.owner }, now);
        if (!t) expect(r).toMatchObject({ ok: false, error: { code: "TOKEN_NOT_FOUND" } });
        else if (!t.held) expect(r).toMatchObject({ ok: false, error: { code: "NOT_HELD" } });
        else if ((generation !== undefined && generation !== t.generation) || (c.owner !== undefined && c.owner !== t.owner)) {
          expect(r).toMatchObject({ ok: false, error: { code: "LEASE_MISMATCH" } });
        } else {
          expect(r.ok).toBe(true);
          Object.assign(t, { held: false, owner: "", requestId: undefined, leaseExp: Infinity });
          const w = model.becameFree(id, now);
          expect(take().map((e) => `${e.type} ${e.token}${e.waiterId ? ` ${e.waiterId}` : ""}`)).toEqual(
            [`RELEASED ${id}`, ...(w ? [`ASSIGNED ${id} ${w.id}`] : [])],
          );
        }
        expect(take()).toEqual([]);
        break;
      }
      case "delete": {
        const id = pickToken(c.pick)!;
        const r = core.delete("p", id, now);
        if (!model.tokens.has(id)) expect(r).toMatchObject({ ok: false, error: { code: "TOKEN_NOT_FOUND" } });
        else {
          expect(r.ok).toBe(true);
          model.tokens.delete(id);
          expect(take().map((e) => `${e.type} ${e.token}`)).toEqual([`DELETED ${id}`]);
        }
        break;
      }
      case "cancel": {
        const id = waiterIds.length ? waiterIds[c.pick % waiterIds.length]! : 999;
        const i = model.waiters.findIndex((w) => w.id === id);
        expect(core.cancelWaiter(id)).toBe(i >= 0);
        if (i >= 0) model.waiters.splice(i, 1);
        expect(take()).toEqual([]);
        break;
      }
      case "advance":
        advanceTo(now + c.by);
        break;
    }
    compare();
  }
}

describe("TokenPools against a reference model", () => {
  it("agrees with the model on every step of random command sequences", () => {
    fc.assert(
      fc.property(
        fc.record({
          leaseTtl: fc.integer({ min: 1, max: 300 }),
          idleTtl: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600 })),
          maxTokens: fc.integer({ min: 1, max: 8 }),
        }),
        fc.array(cmd, { minLength: 1, maxLength: 80 }),
        fc.integer(),
        (config, cmds, seed) => run(config, cmds, seed),
      ),
      { numRuns: Number(process.env.MODEL_RUNS ?? 300) },
    );
  });
});
