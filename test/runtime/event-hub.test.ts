// The event hub's subscriber queues: bounded, cut off with exactly where to resume, and the cut
// announced the moment it happens (a transport parked on a blocked write learns of it from onEnd).

import { describe, expect, it } from "vitest";
import type { LeaseEvent } from "../../src/core/types.js";
import { EventHub, type WatchEnd } from "../../src/runtime/event-hub.js";

const event = (sequence: number): LeaseEvent => ({
  sequence,
  type: "RENEWED",
  pool: "p",
  token: "t",
  owner: "o",
  generation: 1,
  time: sequence,
  expireTime: undefined,
  idleExpireTime: undefined,
  waiterId: undefined,
});

describe("event hub subscriptions", () => {
  it("cuts a subscriber that falls more than its buffer behind, drops its queue, and resumes exactly", async () => {
    const hub = new EventHub({ ringSize: 100, subscriberBuffer: 3 });
    const sub = hub.subscribe("p", undefined);
    if ("code" in sub) throw new Error("no subscription");
    const ends: (WatchEnd | undefined)[] = [];
    sub.onEnd((reason) => ends.push(reason));
    const it = sub[Symbol.asyncIterator]();
    hub.publish(event(1));
    hub.publish(event(2));
    expect((await it.next()).value).toMatchObject({ sequence: 1 }); // taken by the transport
    hub.publish(event(3));
    hub.publish(event(4));
    expect(ends).toEqual([]);
    hub.publish(event(5)); // 2, 3, 4 queued: the fourth behind is one too many
    expect(ends).toEqual([{ code: "SLOW_CONSUMER", pool: "p", lastSequence: 1, limit: 3 }]);
    expect(sub.endReason).toEqual(ends[0]);
    // Nothing queued is delivered after the cut: the stream ends right after what was taken.
    expect(await it.next()).toEqual({ done: true, value: undefined });
    const late: (WatchEnd | undefined)[] = [];
    sub.onEnd((reason) => late.push(reason));
    expect(late).toEqual(ends);
    expect(hub.subscriberCount()).toBe(0);
  });

  it("tells onEnd listeners of a clean end and of a shutdown once", () => {
    const hub = new EventHub({ ringSize: 10, subscriberBuffer: 10 });
    const a = hub.subscribe("p", undefined);
    const b = hub.subscribe("p", undefined);
    if ("code" in a || "code" in b) throw new Error("no subscription");
    const seen: string[] = [];
    a.onEnd((r) => seen.push(`a:${r?.code ?? "clean"}`));
    b.onEnd((r) => seen.push(`b:${r?.code ?? "clean"}`));
    a.end();
    hub.closeAll();
    a.end();
    expect(seen).toEqual(["a:clean", "b:SHUTDOWN"]);
  });
});
