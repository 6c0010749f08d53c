// Watching all pools on the Redis store, at the store seam with two stores (two replicas) on one
// redis-server: a pool created by the other replica is noticed at once (through its creation notice,
// not the periodic rescan) and read from its first event, a deleted pool just stops, a slow watcher is
// cut off, and an ended watch leaves no reader loop or notice connection behind.

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LeaseEvent } from "../../src/core/types.js";
import { createLogger } from "../../src/runtime/logger.js";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import type { Watch } from "../../src/store/store.js";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";
import { sleep } from "../harness/sleep.js";


async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Reads a watch in the background. */
function collect(watch: Watch): { events: LeaseEvent[]; done: Promise<void> } {
  const events: LeaseEvent[] = [];
  const done = (async () => {
    for await (const e of watch) events.push(e);
  })();
  return { events, done };
}

function unwrap<T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(`store call failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

describe("redis store: watching all pools", () => {
  let server: RedisServer;
  let watcher: RedisStore;
  let writer: RedisStore;
  let admin: Redis;
  const open = (watchBuffer = 1000): Promise<RedisStore> =>
    // A rescan slower than any test here: new pools must be found through their creation notice.
    RedisStore.open({ url: server.url, eventRingSize: 1000, watchBuffer, poolRescanMs: 60_000, log: createLogger("silent") });
  const pubsubClients = async (): Promise<number> =>
    String(await admin.call("CLIENT", "LIST", "TYPE", "pubsub")).split("\n").filter(Boolean).length;

  beforeAll(async () => {
    server = await startRedisServer();
    watcher = await open();
    writer = await open();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await watcher?.close();
    await writer?.close();
    await server?.stop();
  });

  it("follows pools created on another replica from their first event, and pools deleted just stop", async () => {
    unwrap(await writer.createPool("existing", {}, 1));
    unwrap(await writer.createPool("doomed", {}, 1));
    const watch = unwrap(await watcher.watchAll());
    const { events, done } = collect(watch);

    unwrap(await writer.assign("doomed", "a", {}));
    unwrap(await writer.deletePool("doomed"));
    unwrap(await writer.createPool("fresh", {}, 2));
    unwrap(await writer.assign("fresh", "c", {}));
    unwrap(await writer.assign("existing", "b", {}));
    await until("the fresh pool's lease", () => events.some((e) => e.pool === "fresh" && e.type === "ASSIGNED"), 3000);
    await until("the existing pool's lease", () => events.some((e) => e.pool === "existing" && e.type === "ASSIGNED"));

    const of = (pool: string) => events.filter((e) => e.pool === pool).map((e) => `${e.sequence}:${e.type}:${e.owner}`);
    expect(of("existing")).toEqual(["2:ASSIGNED:b"]); // live from the start of the watch: GENERATED came before
    expect(of("doomed")).toEqual(["2:ASSIGNED:a"]);
    expect(of("fresh")).toEqual(["1:GENERATED:", "2:GENERATED:", "3:ASSIGNED:c"]); // everything since its creation
    expect(watch.endReason).toBeUndefined();

    // A pool of a deleted pool's name, created again, is followed again.
    unwrap(await writer.createPool("doomed", {}, 1));
    unwrap(await writer.assign("doomed", "again", {}));
    await until("the recreated pool's lease", () => events.some((e) => e.pool === "doomed" && e.owner === "again"));

    expect(watcher.streamCount()).toBe(3);
    expect(await pubsubClients()).toBe(1);
    watch.end();
    await done;
    expect(watch.endReason).toBeUndefined();
    // Every reader loop and the notice connection are gone with the last all-pools watch.
    expect(watcher.streamCount()).toBe(0);
    for (let i = 0; i < 100 && (await pubsubClients()) > 0; i++) await sleep(20);
    expect(await pubsubClients()).toBe(0);
    for (const p of ["existing", "doomed", "fresh"]) unwrap(await writer.deletePool(p));
  });

  it("cuts off an all-pools watcher that stops reading, with SLOW_CONSUMER", async () => {
    const slow = await open(5);
    try {
      unwrap(await writer.createPool("busy", {}, 0));
      const watch = unwrap(await slow.watchAll());
      unwrap(await writer.generate("busy", { count: 20 }));
      await until("the cut-off", () => watch.endReason !== undefined);
      expect(watch.endReason).toMatchObject({ code: "SLOW_CONSUMER", pool: "*", limit: 5 });
      expect(slow.streamCount()).toBe(0);
      unwrap(await writer.deletePool("busy"));
    } finally {
      await slow.close();
    }
  });

  it("ends all-pools watches with SHUTDOWN when the store closes", async () => {
    const closing = await open();
    const watch = unwrap(await closing.watchAll());
    await closing.close();
    expect(watch.endReason).toEqual({ code: "SHUTDOWN" });
    expect(closing.streamCount()).toBe(0);
  });
});
