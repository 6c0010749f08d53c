// Shapes one WatchLeases stream: filters by event type and owner, heartbeats (Progress) when the
// stream is quiet, and LEASE_EXPIRING warnings for the watched owner's leases. Per-stream state only;
// the store's watch supplies the events.

import { create } from "@bufbuild/protobuf";
import {
  LeaseEventType as ProtoType,
  WatchLeasesResponseSchema,
  type LeaseEvent as LeaseEventMessage,
  type WatchLeasesResponse,
} from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { LeaseEvent } from "../core/types.js";
import type { Watch } from "../store/store.js";
import { eventMessage, protoEventType, timestamp } from "./messages.js";


export interface WatchShape {
  /** Proto event types to pass (all when empty). */
  readonly types: ReadonlySet<ProtoType>;
  /** Only this holder's events (all when empty). */
  readonly owner: string;
  readonly heartbeatMs: number;
  /** Warn when this fraction of a lease's TTL has passed unrenewed; 0 = never. Needs `owner`. */
  readonly expiringFraction: number;
}

/** A lease of the watched owner that may need a warning. */
interface Tracked {
  readonly event: LeaseEvent;
  readonly warnAt: number;
}

const key = (e: LeaseEvent): string => `${e.pool}\u0000${e.token}`;

export async function* shapeWatch(watch: Watch, shape: WatchShape, signal: AbortSignal, now: () => number): AsyncGenerator<WatchLeasesResponse> {
  const events = watch[Symbol.asyncIterator]();
  const tracked = new Map<string, Tracked>();
  let lastSequence = 0;
  let lastSent = now();
  let next = events.next();
  // One timer per stream, not one per event: it is moved only when something falls due earlier than
  // it is set for. When it fires early (events kept the stream busy) the loop finds nothing due and
  // arms it again, so a busy stream costs one timer per heartbeat period (like the core's postpone).
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let wake: (() => void) | undefined;
  const fire = (): void => {
    timer = undefined;
    timerAt = Infinity;
    wake?.();
  };
  signal.addEventListener("abort", fire, { once: true });
  try {
    while (!signal.aborted) {
      const wakeAt = Math.min(lastSent + shape.heartbeatMs, earliest(tracked));
      if (wakeAt < timerAt) {
        clearTimeout(timer);
        timerAt = wakeAt;
        timer = setTimeout(fire, Math.max(0, wakeAt - now()));
      }
      // A fresh promise per wait, so no promise gathers one reaction per event while the timer runs.
      const woke = await Promise.race([next, new Promise<undefined>((resolve) => (wake = () => resolve(undefined)))]);
      wake = undefined;
      if (woke !== undefined) {
        if (woke.done) return;
        next = events.next();
        const e = woke.value;
        lastSequence = e.sequence;
        if (shape.expiringFraction > 0 && e.owner === shape.owner) track(tracked, e, shape.expiringFraction);
        if (!passes(e, shape)) continue;
        lastSent = now();
        // The hot path (every event, every watcher): a literal message, not create()'s generic walk.
        yield { $typeName: "tokenpool.v1.WatchLeasesResponse", kind: { case: "event", value: messageOf(e) } };
        continue;
      }
      const t = now();
      for (const [k, lease] of tracked) {
        if (lease.warnAt > t) continue;
        tracked.delete(k); // one warning per lease term; a renewal re-arms it
        lastSent = t;
        yield create(WatchLeasesResponseSchema, {
          kind: { case: "event", value: { ...eventMessage(lease.event), type: ProtoType.LEASE_EXPIRING, time: timestamp(t) } },
        });
      }
      if (t - lastSent >= shape.heartbeatMs) {
        lastSent = t;
        yield create(WatchLeasesResponseSchema, { kind: { case: "progress", value: { sequence: BigInt(lastSequence), time: timestamp(t) } } });
      }
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", fire);
  }
}

/**
 * Every watcher of a pool receives the same event object: its message is built once and shared
 * (messages are never mutated after creation), not rebuilt for each of them.
 */
const eventMessages = new WeakMap<LeaseEvent, LeaseEventMessage>();

function messageOf(e: LeaseEvent): LeaseEventMessage {
  let message = eventMessages.get(e);
  if (message === undefined) {
    message = eventMessage(e);
    eventMessages.set(e, message);
  }
  return message;
}

function passes(e: LeaseEvent, shape: WatchShape): boolean {
  if (shape.owner !== "" && e.owner !== shape.owner) return false;
  return shape.types.size === 0 || shape.types.has(protoEventType(e.type));
}

function track(tracked: Map<string, Tracked>, e: LeaseEvent, fraction: number): void {
  if ((e.type === "ASSIGNED" || e.type === "RENEWED") && e.expireTime !== undefined) {
    tracked.set(key(e), { event: e, warnAt: e.time + fraction * (e.expireTime - e.time) });
  } else if (e.type === "RELEASED" || e.type === "LEASE_EXPIRED" || e.type === "DELETED" || e.type === "IDLE_EXPIRED") {
    tracked.delete(key(e));
  }
}

/** The watched owner's leases are few; a scan beats keeping a heap in step. */
function earliest(tracked: Map<string, Tracked>): number {
  let min = Infinity;
  for (const t of tracked.values()) if (t.warnAt < min) min = t.warnAt;
  return min;
}
