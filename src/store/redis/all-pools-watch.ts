// One WatchLeases stream of every pool on the Redis store: a share in each pool's reader loop on this
// replica (the loops that serve per-pool watches), kept in step with the pool index. Live only, like
// the in-process hub; a pool created after the watch started is read from its first retained event,
// so noticing it a moment late loses nothing, and a deleted pool just stops contributing.

import { ALL_POOLS, Subscription, type WatchEnd } from "../../runtime/event-hub.js";
import type { PoolStream, StreamSink } from "./pool-stream.js";

/** Where one incarnation of a pool's event stream stands. */
export interface StreamPosition {
  readonly incarnation: string;
  /** The pool's current sequence. */
  readonly last: number;
  /** The oldest sequence still in the stream, if any. */
  readonly oldest: number | undefined;
}

export interface AllPoolsWatchDeps {
  /** Events the watcher may have pending before it is cut off (as any other watch). */
  readonly bufferLimit: number;
  /** Where the pool's stream stands, or undefined when the pool does not exist (yet, or any more). */
  readonly locate: (pool: string) => Promise<StreamPosition | undefined>;
  /** Delivers the pool's events after `after` to `sink` from this replica's loop for that incarnation. */
  readonly follow: (pool: string, at: StreamPosition, sink: StreamSink, after: number) => FollowedStream;
  /** Every listed pool name now. */
  readonly list: () => Promise<readonly string[]>;
  /** Every later listing (and whether a creation notice prompted it), until the returned function is called. */
  readonly listen: (onNames: (names: readonly string[], prompted: boolean) => void) => () => void;
  /** The watch ended (for whatever reason) and holds nothing any more. */
  readonly onEnd: (watch: AllPoolsWatch) => void;
}

/**
 * How often a listed name whose pool does not exist is looked up again when no creation notice
 * prompts it: a name left in the index by a replica that died mid-create or mid-delete stays there,
 * and must not cost a lookup per listing for ever.
 */
const ABSENT_RECHECK_MS = 10_000;

/** What a watch needs of a pool's reader loop once it follows it: a way out. */
export type FollowedStream = Pick<PoolStream, "removeSubscription">;

interface Followed {
  readonly stream: FollowedStream;
  readonly sink: StreamSink;
}

export class AllPoolsWatch {
  /** What the caller reads; ending it (or its reader leaving) releases every pool share. */
  readonly subscription: Subscription;
  private readonly followed = new Map<string, Followed>();
  /** Pool incarnations that existed when the watch started: followed from then, not from their start. */
  private readonly existing = new Map<string, string>();
  private names: readonly string[] = [];
  /** Listed names found without a pool, with when they were looked up. */
  private readonly absent = new Map<string, number>();
  private prompted = false;
  /** Listings arrive once start() has followed the pools that existed; `heard` = one came before. */
  private started = false;
  private heard = false;
  private unlisten: (() => void) | undefined;
  private syncing = false;
  private again = false;
  private ended = false;

  constructor(private readonly deps: AllPoolsWatchDeps) {
    this.subscription = new Subscription(ALL_POOLS, deps.bufferLimit, () => this.release(), 0);
  }

  /** Follows every existing pool from its current sequence; once this resolves the watch is live. Throws when Redis fails. */
  async start(): Promise<void> {
    // Listening first: a creation notice arriving while the pools are looked up still counts.
    this.unlisten = this.deps.listen((listed, prompted) => {
      this.names = listed;
      this.heard = true;
      this.prompted ||= prompted;
      if (this.started) void this.sync();
    });
    const names = await this.deps.list();
    const found = await Promise.all(names.map(async (name) => [name, await this.deps.locate(name)] as const));
    if (this.ended) return;
    for (const [name, at] of found) {
      if (!at) {
        this.absent.set(name, Date.now()); // listed but not created yet: its creation notice prompts a new look
        continue;
      }
      this.existing.set(name, at.incarnation);
      this.attach(name, at, at.last);
    }
    this.started = true;
    if (this.heard) void this.sync();
    else this.names = names;
  }

  /** Follows listed pools not followed yet; one pass at a time, repeated if listings came meanwhile. */
  private async sync(): Promise<void> {
    if (this.ended) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    try {
      do {
        this.again = false;
        const prompted = this.prompted;
        this.prompted = false;
        const now = Date.now();
        const listed = new Set(this.names);
        for (const name of this.absent.keys()) if (!listed.has(name)) this.absent.delete(name);
        const missing = this.names.filter((name) => {
          if (this.followed.has(name)) return false;
          const lookedAt = this.absent.get(name);
          return prompted || lookedAt === undefined || now - lookedAt >= ABSENT_RECHECK_MS;
        });
        // A lookup that fails (Redis away) is retried with the next listing.
        const found = await Promise.all(
          missing.map((name) => this.deps.locate(name).then((at) => [name, at, true] as const, () => [name, undefined, false] as const)),
        );
        for (const [name, at, answered] of found) {
          if (!at) {
            if (answered) this.absent.set(name, now);
            continue;
          }
          this.absent.delete(name);
          if (this.ended || this.followed.has(name)) continue;
          // A pool created after the watch started is read from its beginning (what the stream still
          // holds), as an in-process watcher would have seen it from its first event.
          const isNew = this.existing.get(name) !== at.incarnation;
          this.attach(name, at, isNew && at.oldest !== undefined ? Math.min(at.oldest - 1, at.last) : at.last);
        }
      } while (this.again && !this.ended);
    } finally {
      this.syncing = false;
    }
  }

  private attach(name: string, at: StreamPosition, after: number): void {
    if (this.ended) return;
    const sink: StreamSink = {
      offer: (event) => this.subscription.offer(event),
      end: (reason) => this.lost(name, sink, reason),
    };
    this.followed.set(name, { stream: this.deps.follow(name, at, sink, after), sink });
  }

  /** One pool's share ended: a pool deleted (or replaced) stops contributing; falling behind ends the watch. */
  private lost(name: string, sink: StreamSink, reason: WatchEnd): void {
    if (this.followed.get(name)?.sink === sink) this.followed.delete(name);
    if (reason.code === "SLOW_CONSUMER") {
      const { lastSequence } = this.subscription;
      this.subscription.end({ code: "SLOW_CONSUMER", pool: ALL_POOLS, lastSequence, limit: this.deps.bufferLimit });
      return;
    }
    // A pool of the same name may already exist again: look without waiting for the next listing.
    if (reason.code === "POOL_DELETED") {
      this.prompted = true;
      void this.sync();
    }
  }

  /** Leaves every pool's reader loop (a loop nobody else uses stops) and stops listening. */
  private release(): void {
    if (this.ended) return;
    this.ended = true;
    this.unlisten?.();
    const followed = [...this.followed.values()];
    this.followed.clear();
    for (const { stream, sink } of followed) stream.removeSubscription(sink);
    this.deps.onEnd(this);
  }
}
