// Fans lease events out to watchers: a bounded per-pool replay ring (so a watcher can resume by
// sequence) and per-subscriber bounded queues (so a slow watcher cannot grow memory without bound).

import type { LeaseEvent } from "../core/types.js";
import { EventRing } from "./event-ring.js";

export type WatchEnd =
  | { readonly code: "OUT_OF_RANGE"; readonly pool: string; readonly oldestSequence: number; readonly requested: number }
  | { readonly code: "SLOW_CONSUMER"; readonly pool: string; readonly lastSequence: number; readonly limit: number }
  | { readonly code: "POOL_DELETED"; readonly pool: string }
  | { readonly code: "SHUTDOWN" };

/** Pool name shown by all-pool subscriptions (pool names cannot contain '*'). */
export const ALL_POOLS = "*";

export interface EventHubOptions {
  /** Events kept per pool for resumption. */
  readonly ringSize: number;
  /** Events a subscriber may have queued before it is cut off. */
  readonly subscriberBuffer: number;
}

/** One watcher's queue, consumed as an async iterable; ends with a WatchEnd or cleanly. */
export class Subscription implements AsyncIterable<LeaseEvent> {
  private readonly queue: LeaseEvent[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private ended = false;
  /** Why the stream ended, when it ended abnormally. */
  endReason: WatchEnd | undefined;
  /** Sequence of the last event taken from the queue (handed to the transport). */
  lastSequence: number;
  private endListeners: ((reason: WatchEnd | undefined) => void)[] | undefined;

  constructor(
    readonly pool: string,
    private readonly limit: number,
    private readonly onClose: (s: Subscription) => void,
    afterSequence: number,
  ) {
    this.lastSequence = afterSequence;
  }

  /** Enqueues without blocking the publisher; a full queue ends the subscription. */
  offer(event: LeaseEvent): void {
    if (this.ended) return;
    if (this.queue.length - this.head >= this.limit) {
      this.end({ code: "SLOW_CONSUMER", pool: this.pool, lastSequence: this.lastSequence, limit: this.limit });
      return;
    }
    this.queue.push(event);
    this.wakeUp();
  }

  /**
   * A watcher cut off for falling behind loses its queue at once: memory is freed now, and the stream
   * ends right after the event the transport already has, so `lastSequence` is exactly where to resume
   * from, whatever the caller that detected the lag had offered.
   */
  end(reason?: WatchEnd): void {
    if (this.ended) return;
    this.ended = true;
    if (reason?.code === "SLOW_CONSUMER") {
      this.queue.length = 0;
      this.head = 0;
      reason = { ...reason, lastSequence: this.lastSequence };
    }
    this.endReason = reason;
    this.onClose(this);
    this.wakeUp();
    const listeners = this.endListeners;
    this.endListeners = undefined;
    if (listeners) for (const listener of listeners) listener(reason);
  }

  /**
   * Called once when the subscription ends, at that moment: a transport whose writes are blocked by a
   * client that stopped reading learns of the cut without waiting for its next read.
   */
  onEnd(listener: (reason: WatchEnd | undefined) => void): void {
    if (this.ended) listener(this.endReason);
    else (this.endListeners ??= []).push(listener);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<LeaseEvent> {
    try {
      for (;;) {
        if (this.head < this.queue.length) {
          const event = this.queue[this.head++] as LeaseEvent;
          if (this.head > 1024 && this.head * 2 > this.queue.length) {
            this.queue.splice(0, this.head);
            this.head = 0;
          }
          this.lastSequence = event.sequence;
          yield event;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      this.end();
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export class EventHub {
  private readonly rings = new Map<string, EventRing>();
  private readonly subscribers = new Map<string, Set<Subscription>>();
  private readonly lastSequence = new Map<string, number>();
  /** Watchers of every pool (live only). */
  private readonly everyPool = new Set<Subscription>();

  constructor(private readonly options: EventHubOptions) {}

  publish(event: LeaseEvent): void {
    let ring = this.rings.get(event.pool);
    if (!ring) {
      ring = new EventRing(event.pool, this.options.ringSize);
      this.rings.set(event.pool, ring);
    }
    ring.push(event);
    this.lastSequence.set(event.pool, event.sequence);
    const subs = this.subscribers.get(event.pool);
    if (subs) for (const s of subs) s.offer(event);
    for (const s of this.everyPool) s.offer(event);
  }

  /** Starts a live watch of every pool. */
  subscribeAll(): Subscription {
    const sub = new Subscription(ALL_POOLS, this.options.subscriberBuffer, (s) => this.everyPool.delete(s), 0);
    this.everyPool.add(sub);
    return sub;
  }

  /** Starts a watch: replays retained events after `afterSequence` (undefined = live only), then live ones. */
  subscribe(pool: string, afterSequence: number | undefined): Subscription | WatchEnd {
    const ring = this.rings.get(pool);
    const last = this.lastSequence.get(pool) ?? 0;
    const start = afterSequence ?? last;
    const oldest = ring?.oldest();
    if (start < last && (oldest === undefined || start + 1 < oldest)) {
      return { code: "OUT_OF_RANGE", pool, oldestSequence: oldest ?? last + 1, requested: start };
    }
    const sub = new Subscription(pool, this.options.subscriberBuffer, (s) => this.unsubscribe(s), start);
    if (ring && start < last) for (const e of ring.since(start)) sub.offer(e);
    let set = this.subscribers.get(pool);
    if (!set) {
      set = new Set();
      this.subscribers.set(pool, set);
    }
    set.add(sub);
    return sub;
  }

  subscriberCount(): number {
    let n = this.everyPool.size;
    for (const set of this.subscribers.values()) n += set.size;
    return n;
  }

  /** Forgets a deleted pool's history and ends its watchers. */
  dropPool(pool: string): void {
    this.rings.delete(pool);
    this.lastSequence.delete(pool);
    const subs = this.subscribers.get(pool);
    if (subs) for (const s of [...subs]) s.end({ code: "POOL_DELETED", pool });
  }

  /** Seeds the sequence high-water mark of a pool restored from storage. */
  seed(pool: string, sequence: number): void {
    this.lastSequence.set(pool, sequence);
  }

  closeAll(): void {
    for (const subs of this.subscribers.values()) for (const s of [...subs]) s.end({ code: "SHUTDOWN" });
    for (const s of [...this.everyPool]) s.end({ code: "SHUTDOWN" });
  }

  private unsubscribe(sub: Subscription): void {
    const set = this.subscribers.get(sub.pool);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.subscribers.delete(sub.pool);
  }
}
