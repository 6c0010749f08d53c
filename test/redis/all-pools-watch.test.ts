// AllPoolsWatch's bookkeeping with its Redis parts faked: which pools it follows and from where
// (existing ones live, new ones from their first retained event), that a pool found by a plain rescan
// (its creation notice lost) is followed too, that a listed name without a pool is not looked up on
// every rescan, and that ending the watch leaves every pool's reader loop.

import { describe, expect, it } from "vitest";
import type { LeaseEvent } from "../../src/core/types.js";
import type { WatchEnd } from "../../src/runtime/event-hub.js";
import { AllPoolsWatch, type StreamPosition } from "../../src/store/redis/all-pools-watch.js";
import type { StreamSink } from "../../src/store/redis/pool-stream.js";

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function harness(pools: Map<string, StreamPosition>) {
  const lookups = new Map<string, number>();
  const followed: { pool: string; after: number; sink: StreamSink; left: boolean }[] = [];
  let listener: ((names: readonly string[], prompted: boolean) => void) | undefined;
  let ended = 0;
  const watch = new AllPoolsWatch({
    bufferLimit: 3,
    locate: async (pool) => {
      lookups.set(pool, (lookups.get(pool) ?? 0) + 1);
      return pools.get(pool);
    },
    follow: (pool, _at, sink, after) => {
      const entry = { pool, after, sink, left: false };
      followed.push(entry);
      return { removeSubscription: (s: StreamSink) => void (entry.left ||= s === sink) };
    },
    list: async () => [...pools.keys()],
    listen: (l) => {
      listener = l;
      return () => (listener = undefined);
    },
    onEnd: () => ended++,
  });
  const listing = async (names: readonly string[], prompted: boolean): Promise<void> => {
    listener?.(names, prompted);
    for (let i = 0; i < 5; i++) await tick();
  };
  return { watch, lookups, followed, listing, listening: () => listener !== undefined, ended: () => ended };
}

const at = (incarnation: string, last: number, oldest?: number): StreamPosition => ({ incarnation, last, oldest });
const event = (pool: string, sequence: number): LeaseEvent => ({
  sequence,
  type: "ASSIGNED",
  pool,
  token: "t",
  owner: "o",
  generation: 1,
  time: 0,
  expireTime: undefined,
  idleExpireTime: undefined,
  waiterId: undefined,
});

describe("AllPoolsWatch", () => {
  it("follows existing pools live and new ones from their first retained event", async () => {
    const pools = new Map([["old", at("i1", 7, 1)]]);
    const h = harness(pools);
    await h.watch.start();
    expect(h.followed.map(({ pool, after }) => ({ pool, after }))).toEqual([{ pool: "old", after: 7 }]);

    // Found by a periodic rescan, no creation notice: followed all the same, from its beginning.
    pools.set("new", at("i2", 4, 1));
    await h.listing(["new", "old"], false);
    // Recreated under an existing name: a new incarnation is a new pool.
    pools.set("old", at("i3", 9, 3));
    h.followed[0]!.sink.end({ code: "POOL_DELETED", pool: "old" });
    await h.listing(["new", "old"], false);
    expect(h.followed.map(({ pool, after }) => ({ pool, after }))).toEqual([
      { pool: "old", after: 7 },
      { pool: "new", after: 0 },
      { pool: "old", after: 2 },
    ]);
    expect(h.watch.subscription.endReason).toBeUndefined();
  });

  it("looks up a listed name without a pool again only when prompted or after a while", async () => {
    const pools = new Map<string, StreamPosition>();
    const h = harness(pools);
    await h.watch.start();
    for (let i = 0; i < 5; i++) await h.listing(["ghost"], false);
    expect(h.lookups.get("ghost")).toBe(1); // a stale index entry costs no lookup per rescan
    pools.set("ghost", at("i1", 1, 1));
    await h.listing(["ghost"], true); // its creation notice
    expect(h.lookups.get("ghost")).toBe(2);
    expect(h.followed.map((f) => f.pool)).toEqual(["ghost"]);
  });

  it("ends as a whole, with SLOW_CONSUMER, when one pool's share falls behind, leaving every loop", async () => {
    const h = harness(new Map([["a", at("i1", 1, 1)], ["b", at("i2", 1, 1)]]));
    await h.watch.start();
    h.followed[0]!.sink.offer(event("a", 2));
    const slow: WatchEnd = { code: "SLOW_CONSUMER", pool: "b", lastSequence: 1, limit: 3 };
    h.followed[1]!.sink.end(slow);
    expect(h.watch.subscription.endReason).toEqual({ code: "SLOW_CONSUMER", pool: "*", lastSequence: 0, limit: 3 });
    expect(h.followed.every((f) => f.left || f.pool === "b")).toBe(true);
    expect(h.listening()).toBe(false);
    expect(h.ended()).toBe(1);
  });

  it("cuts off a reader that lets more than the buffer pile up, and leaves when its reader stops", async () => {
    const h = harness(new Map([["a", at("i1", 0)]]));
    await h.watch.start();
    for (let s = 1; s <= 4; s++) h.followed[0]!.sink.offer(event("a", s));
    expect(h.watch.subscription.endReason).toMatchObject({ code: "SLOW_CONSUMER", pool: "*", limit: 3 });
    expect(h.followed[0]!.left).toBe(true);

    const quiet = harness(new Map([["a", at("i1", 0)]]));
    await quiet.watch.start();
    quiet.watch.subscription.end();
    expect(quiet.followed[0]!.left).toBe(true);
    expect(quiet.listening()).toBe(false);
  });
});
