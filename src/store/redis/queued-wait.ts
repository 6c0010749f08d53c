// How one replica waits on a queue Redis keeps for all replicas (single assigns' FIFO, the gang
// queue): until a grant, the deadline, a cancel or shutdown ends the wait; while any wait runs in a
// pool, this replica renews its liveness lease there, so Redis grants its waiters at all.
// What a grant looks like is the queue's own business (blocked-assign.ts, gang-wait.ts).

import type { Lease, Result } from "../../core/types.js";
import type { StoreError } from "../store.js";
import { unavailableMessage } from "./connection.js";
import type { Json } from "./lua-replies.js";
import type { PoolStream, StreamWaiter } from "./pool-stream.js";

/** How a settle script is asked to settle a waiter: look only, give up at the deadline, or withdraw. */
export type SettleMode = "check" | "timeout" | "cancel";

/** A waiter a script queued, as its reply described it. */
export interface QueuedWaiter {
  readonly pool: string;
  readonly waiterId: number;
  /** The pool's event sequence when the waiter was queued: its outcome comes after it. */
  readonly registeredAt: number;
  /** The pool incarnation the waiter belongs to (its creation stamp). */
  readonly incarnation: string;
  readonly waitMs: number;
}

/** What one kind of queue needs the wait to do. */
export interface QueueRules<T> {
  /** Runs the queue's settle script for this waiter. */
  settle(mode: SettleMode): Promise<Json>;
  /** The answer a "granted" settle reply carries. */
  granted(reply: Json): T;
  /**
   * What the pool stream's grant event leads to: the answer (the wait ends at once and resolves with
   * it), or, when absent, a settle("check") that collects the grant.
   */
  grantEvent?(lease: Lease, availableAtGrant: number): Promise<Result<T, StoreError>>;
  /** Settle failures in these modes end the wait UNAVAILABLE; in others the deadline's settle tries again. */
  readonly failOnErrorIn: ReadonlySet<SettleMode>;
}

export interface QueuedWaitsDeps {
  /** Renews this replica's liveness lease in a pool where it has waiters. */
  renew(pool: string): Promise<void>;
  /** How often renew() runs for each pool with waiters. */
  readonly renewEveryMs: number;
  /** This replica's event reader for a pool incarnation, started at `from` if it is new. */
  stream(pool: string, incarnation: string, from: number): PoolStream;
  /** Where Redis is, for messages. */
  readonly where: string;
}

const fail = (error: StoreError): { ok: false; error: StoreError } => ({ ok: false, error });

/** The waits of one replica, so that closing the store can answer every one of them. */
export class QueuedWaits {
  private readonly waiting = new Set<{ shutdown(): Promise<void> }>();
  /** Waits per pool on this replica: the pools whose liveness lease it renews. */
  private readonly pools = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly deps: QueuedWaitsDeps) {}

  /**
   * Waits for the outcome of a queued waiter. It arrives on the pool's event stream (a grant, or
   * WAITER_TIMED_OUT for this waiter id); the local deadline, a cancel, or a gap in the stream settle it
   * through the queue's settle script.
   */
  wait<T>(queued: QueuedWaiter, signal: AbortSignal | undefined, rules: QueueRules<T>): Promise<Result<T, StoreError>> {
    const { pool, waiterId, registeredAt, incarnation, waitMs } = queued;
    type Answer = Result<T, StoreError>;
    return new Promise<Answer>((resolve) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = async (mode: SettleMode): Promise<void> => {
        let reply: Json;
        try {
          reply = await rules.settle(mode);
        } catch (e) {
          if (rules.failOnErrorIn.has(mode)) finish(fail({ code: "UNAVAILABLE", message: unavailableMessage(e, this.deps.where) }));
          return;
        }
        switch (reply.state) {
          case "granted":
            finish({ ok: true, value: rules.granted(reply) });
            return;
          case "gone":
            finish(fail({ code: "POOL_NOT_FOUND", pool }));
            return;
          case "queued":
            return;
          default: // removed, unknown (timed out by a reaper), cancelled, moved (a retry took it over)
            if (mode === "timeout") finish(fail({ code: "WAIT_TIMEOUT", pool }));
        }
      };
      const waiter: StreamWaiter = {
        granted: (lease, availableAtGrant) => {
          if (!rules.grantEvent) return void settle("check");
          if (detach()) void rules.grantEvent(lease, availableAtGrant).then(resolve);
        },
        timedOut: (poolDeleted) => finish(fail(poolDeleted ? { code: "POOL_NOT_FOUND", pool } : { code: "WAIT_TIMEOUT", pool })),
        recheck: () => void settle("check"),
      };
      const onAbort = (): void => {
        if (done) return;
        // Answer at once; the script dequeues the waiter or gives back what was granted meanwhile.
        finish(fail({ code: "CANCELLED" }));
        void settle("cancel");
      };
      const entry = {
        shutdown: async (): Promise<void> => {
          finish(fail({ code: "UNAVAILABLE", message: "server is shutting down" }));
          await settle("cancel");
        },
      };
      /** Stops every other way of ending this wait; false if one already did. */
      const detach = (): boolean => {
        if (done) return false;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiting.delete(entry);
        this.trackLiveness(pool, -1);
        stream.removeWaiter(waiterId);
        return true;
      };
      const finish = (answer: Answer): void => {
        if (detach()) resolve(answer);
      };
      this.waiting.add(entry);
      this.trackLiveness(pool, 1);
      const stream = this.deps.stream(pool, incarnation, registeredAt);
      stream.addWaiter(waiterId, waiter, registeredAt);
      timer = setTimeout(() => void settle("timeout"), waitMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** Answers every wait UNAVAILABLE and withdraws it from its queue. */
  async shutdownAll(): Promise<void> {
    await Promise.allSettled([...this.waiting].map((b) => b.shutdown()));
  }

  /** Counts a wait of this replica in `pool`: its liveness lease there is renewed while any runs. */
  private trackLiveness(pool: string, delta: 1 | -1): void {
    const n = (this.pools.get(pool) ?? 0) + delta;
    if (n > 0) this.pools.set(pool, n);
    else this.pools.delete(pool);
    if (this.pools.size > 0 && !this.heartbeat) {
      this.heartbeat = setInterval(() => {
        // A failed renewal (Redis away) is retried next beat; the lease outlasts a few of them.
        for (const p of this.pools.keys()) this.deps.renew(p).catch(() => undefined);
      }, this.deps.renewEveryMs);
      this.heartbeat.unref();
    } else if (this.pools.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }
}
