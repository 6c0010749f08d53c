// The lmdb store in-process: exact close/reopen, the grace rule, persisted expiries, group commit,
// refused data dirs, and a failed commit handled without memory claiming what disk does not have.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { afterEach, describe, expect, it } from "vitest";
import type { LeaseEvent, PoolConfig } from "../../src/core/types.js";
import { systemClock, type Clock } from "../../src/runtime/clock.js";
import { createLogger } from "../../src/runtime/logger.js";
import type { LocalStore } from "../../src/store/local-store.js";
import { DATA_FILE, LmdbOpenError } from "../../src/store/lmdb/lmdb-env.js";
import { openLmdbStore, type LmdbStoreOptions } from "../../src/store/lmdb/lmdb-store.js";
import { FORMAT_KEY } from "../../src/store/lmdb/records.js";
import type { Store } from "../../src/store/store.js";
import { sleep } from "../harness/sleep.js";

const dirs: string[] = [];
const stores: LocalStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tokenpool-lmdb-"));
  dirs.push(d);
  return d;
}

function openStore(dataDir: string, options: Partial<LmdbStoreOptions> = {}): LocalStore {
  const store = openLmdbStore({
    dataDir,
    restartGraceMs: 0,
    clock: systemClock,
    log: createLogger("silent"),
    events: { ringSize: 1000, subscriberBuffer: 1000 },
    ...options,
  });
  stores.push(store);
  return store;
}

async function reopen(store: LocalStore, dataDir: string, options: Partial<LmdbStoreOptions> = {}): Promise<LocalStore> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return openStore(dataDir, options);
}

function value<T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(`unexpected error ${JSON.stringify(r.error)}`);
  return r.value;
}

/** Everything observable about the given pools and tokens. */
async function snapshot(store: Store, tokens: Record<string, readonly string[]>): Promise<unknown> {
  const pools = value(await store.listPools(undefined, 1000));
  const out: Record<string, unknown> = { pools };
  for (const [pool, ids] of Object.entries(tokens)) {
    for (const id of ids) {
      const info = await store.getToken(pool, id);
      out[`${pool}/${id}`] = info.ok ? info.value : info.error.code;
    }
  }
  return out;
}

const cfg = (c: Partial<PoolConfig>): Partial<PoolConfig> => ({ leaseTtlMs: 60_000, idleTtlMs: 600_000, maxTokens: 100, ...c });

describe("lmdb store", () => {
  it("recovers pools, tokens, holders, generations, sequences and request ids exactly", async () => {
    const dir = tempDir();
    let store = openStore(dir);
    const ids = { a: ["a1", "a2", "a3", "a4", "a5"], b: ["b1", "b2"], "a.b": ["a1", "~"] };
    value(await store.createPool("a", cfg({}), 0));
    value(await store.generate("a", { ids: ids.a }));
    // A pool whose name extends another's, holding an id the other has too: the key ranges stay apart.
    value(await store.createPool("a.b", cfg({}), 0));
    value(await store.generate("a.b", { ids: ids["a.b"] }));
    const first = value(await store.assign("a", "owner-1", { requestId: "r1" })).lease;
    const second = value(await store.assign("a", "owner-2", { leaseTtlMs: 5_000 })).lease;
    value(await store.keepAlive("a", [second.token]));
    value(await store.release("a", second.token, { generation: second.generation }));
    value(await store.assign("a", "owner-3", {}));
    const free = ids.a.find((t) => t !== first.token && t !== second.token)!;
    value(await store.deleteToken("a", free));
    // A pool deleted and recreated under the same name keeps none of its old tokens.
    value(await store.createPool("b", cfg({ idleTtlMs: 0 }), 3));
    value(await store.deletePool("b"));
    value(await store.createPool("b", cfg({ idleTtlMs: 0, maxTokens: 7 }), 0));
    value(await store.generate("b", { ids: ids.b }));
    value(await store.assign("b", "owner-b", {}));
    const before = await snapshot(store, ids);
    const poolA = value(await store.getPool("a"));

    store = await reopen(store, dir);
    expect(await snapshot(store, ids)).toEqual(before);
    expect(value(await store.getPool("b")).total).toBe(2);
    // The idempotency key survives: the same request gets the same lease back.
    const again = value(await store.assign("a", "owner-1", { requestId: "r1" })).lease;
    expect({ token: again.token, generation: again.generation }).toEqual({ token: first.token, generation: first.generation });
    // New generations and sequences continue above everything issued before.
    const next = value(await store.assign("a", "owner-4", {})).lease;
    expect(next.generation).toBeGreaterThan(poolA.generation);
    expect(value(await store.getPool("a")).sequence).toBeGreaterThan(poolA.sequence);
  });

  it("recovers the recycle queue in grant order", async () => {
    const dir = tempDir();
    let store = openStore(dir);
    // One free token at a time, granted z, y, x: storage (id) order is the reverse of grant order.
    value(await store.createPool("q", cfg({ idleTtlMs: 0 }), 0));
    const granted: string[] = [];
    for (const id of ["z", "y", "x"]) {
      value(await store.generate("q", { ids: [id] }));
      granted.push(value(await store.assign("q", "legacy", { recyclable: true })).lease.token);
    }
    expect(granted).toEqual(["z", "y", "x"]);
    value(await store.generate("q", { ids: ["w"] }));
    const plain = value(await store.assign("q", "legacy", {})).lease.token;

    store = await reopen(store, dir);
    expect(value(await store.getToken("q", granted[0]!)).lease?.recyclable).toBe(true);
    const recycled: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) recycled.push(value(await store.releaseOldestRecyclable("q")).released);
    expect(recycled).toEqual([...granted, undefined]);
    expect(value(await store.getToken("q", plain)).state).toBe("held");
  });

  it("gives every recovered deadline at least the restart grace", async () => {
    const dir = tempDir();
    let now = Date.now();
    const clock: Clock = { ...systemClock, now: () => now };
    let store = openStore(dir, { clock });
    value(await store.createPool("p", cfg({ idleTtlMs: 2_000 }), 0));
    value(await store.generate("p", { ids: ["short", "long", "idle"] }));
    const short = value(await store.assign("p", "o", { leaseTtlMs: 1_000 })).lease;
    const long = value(await store.assign("p", "o", { leaseTtlMs: 3_600_000 })).lease;
    const idle = ["short", "long", "idle"].find((t) => t !== short.token && t !== long.token)!;
    const idleBefore = value(await store.getToken("p", idle)).idleExpireTime!;

    now += 5_000;
    store = await reopen(store, dir, { clock, restartGraceMs: 15_000 });
    const floor = now + 15_000;
    const s = value(await store.getToken("p", short.token));
    expect(s.lease?.expireTime).toBe(floor);
    expect(s.lease?.generation).toBe(short.generation);
    expect(value(await store.getToken("p", long.token)).lease?.expireTime).toBe(long.expireTime);
    expect(value(await store.getToken("p", idle)).idleExpireTime).toBe(Math.max(idleBefore, floor));
  });

  it("persists expiries made by the expiry driver", async () => {
    const dir = tempDir();
    let store = openStore(dir);
    value(await store.createPool("lease", cfg({ leaseTtlMs: 100, idleTtlMs: 0 }), 0));
    value(await store.generate("lease", { ids: ["t"] }));
    value(await store.assign("lease", "o", {}));
    value(await store.createPool("idle", cfg({ idleTtlMs: 150 }), 0));
    value(await store.generate("idle", { ids: ["gone"] }));
    await sleep(400);
    expect(value(await store.getToken("lease", "t")).state).toBe("free");
    store = await reopen(store, dir);
    expect(value(await store.getToken("lease", "t")).state).toBe("free");
    expect((await store.getToken("idle", "gone")).ok).toBe(false);
    expect(value(await store.getPool("idle")).total).toBe(0);
  });

  it("commits concurrent mutations together", async () => {
    const dir = tempDir();
    let commits = 0;
    const store = openStore(dir, { beforeCommit: () => void commits++ });
    value(await store.createPool("p", cfg({ maxTokens: 1000 }), 500));
    commits = 0;
    const leases = await Promise.all(Array.from({ length: 200 }, (_, i) => store.assign("p", `o${i}`, {})));
    expect(leases.every((l) => l.ok)).toBe(true);
    expect(commits).toBeLessThanOrEqual(2);
  });

  it("refuses a data dir that is already open", () => {
    const dir = tempDir();
    openStore(dir);
    expect(() => openStore(dir)).toThrow(LmdbOpenError);
  });

  it("refuses unreadable, foreign, mismatched or corrupt data instead of starting empty", async () => {
    const garbage = tempDir();
    writeFileSync(join(garbage, DATA_FILE), Buffer.alloc(64 * 1024, 0x5a));
    expect(() => openStore(garbage)).toThrow(/not a valid lmdb file \(bad magic.*refusing to start/);
    const truncated = tempDir();
    writeFileSync(join(truncated, DATA_FILE), Buffer.alloc(40, 0));
    expect(() => openStore(truncated)).toThrow(/not a valid lmdb file \(truncated/);

    const foreign = tempDir();
    writeFileSync(join(foreign, "notes.txt"), "not ours");
    expect(() => openStore(foreign)).toThrow(/not empty.*refusing to start/);

    const tamper = async (edit: (env: ReturnType<typeof open<unknown, string>>) => Promise<unknown>): Promise<string> => {
      const dir = tempDir();
      const store = openStore(dir);
      value(await store.createPool("p", cfg({}), 0));
      value(await store.generate("p", { ids: ["x"] }));
      await store.close();
      stores.splice(stores.indexOf(store), 1);
      const env = open<unknown, string>({ path: join(dir, DATA_FILE), noSubdir: true, maxDbs: 4 });
      await edit(env);
      await env.close();
      return dir;
    };
    const newer = await tamper((env) => env.openDB({ name: "meta" }).put(FORMAT_KEY, { name: "tokenpool-lmdb", version: 99 }));
    expect(() => openStore(newer)).toThrow(/format version 99/);
    const unmarked = await tamper((env) => env.openDB({ name: "meta" }).remove(FORMAT_KEY));
    expect(() => openStore(unmarked)).toThrow(/no tokenpool format marker/);
    const badRecord = await tamper((env) => env.openDB<unknown, string[]>({ name: "tokens" }).put(["p", "x"], "garbage"));
    expect(() => openStore(badRecord)).toThrow(/corrupt data .*token record "p\/x"/);
    const orphan = await tamper((env) => env.openDB<unknown, string[]>({ name: "tokens" }).put(["nopool", "x"], [null]));
    expect(() => openStore(orphan)).toThrow(/belong to no pool/);
  });

  it("answers a failed commit with UNAVAILABLE, serves committed state, and resumes when storage recovers", async () => {
    const dir = tempDir();
    let failing = false;
    let store = openStore(dir, {
      probeIntervalMs: 20,
      beforeCommit: () => {
        if (failing) throw new Error("injected commit failure");
      },
    });
    value(await store.createPool("p", cfg({}), 0));
    value(await store.generate("p", { ids: ["t1", "t2"] }));
    const held = value(await store.assign("p", "A", {})).lease;
    const other = held.token === "t1" ? "t2" : "t1";
    value(await store.createPool("q", cfg({}), 0));
    value(await store.generate("q", { ids: ["only"] }));
    const q = value(await store.assign("q", "Q", {})).lease;
    const before = value(await store.getPool("p"));

    const seen: LeaseEvent[] = [];
    const watch = value(await store.watch("p", undefined));
    void (async () => {
      for await (const e of watch) seen.push(e);
    })();

    // A caller blocked on q, granted by a release whose commit then fails.
    const waiting = store.assign("q", "W", { waitMs: 5_000 });
    await sleep(20);
    failing = true;
    const [assigned, granted, releasedQ] = await Promise.all([
      store.assign("p", "B", {}),
      waiting,
      store.release("q", q.token, { generation: q.generation }),
    ]);
    expect(assigned).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    expect(releasedQ).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    expect(granted).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });

    // Writes are refused while storage fails; reads show exactly the committed state.
    expect(await store.release("p", held.token, {})).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    expect(value(await store.getToken("p", other)).state).toBe("free");
    expect(value(await store.getToken("q", q.token)).lease).toMatchObject({ owner: "Q", generation: q.generation });
    expect(value(await store.getPool("p"))).toEqual(before);
    expect(seen.every((e) => e.owner !== "B")).toBe(true);

    failing = false;
    const until = Date.now() + 5_000;
    let retried = await store.assign("p", "C", {});
    while (!retried.ok && Date.now() < until) {
      await sleep(20);
      retried = await store.assign("p", "C", {});
    }
    const c = value(retried).lease;
    expect(c.token).toBe(other);
    // The generation B was given in memory was never durable; C's is above everything committed.
    expect(c.generation).toBe(before.generation + 1);
    await sleep(20);
    expect(seen.map((e) => e.sequence)).toEqual(seen.map((_, i) => before.sequence + 1 + i));
    expect(seen.at(-1)).toMatchObject({ type: "ASSIGNED", owner: "C" });

    store = await reopen(store, dir);
    expect(value(await store.getToken("p", other)).lease).toMatchObject({ owner: "C", generation: c.generation });
    expect(value(await store.getToken("q", q.token)).lease).toMatchObject({ owner: "Q", generation: q.generation });
  });
});
