// Blocking assigns on Redis: an AssignToken that found no free token waits in the pool's FIFO queue,
// which Redis keeps for all replicas, until a grant, its deadline, a cancel, or shutdown ends it; while
// it waits, this replica renews its liveness lease in the pool so Redis grants its waiters at all.

import type { Lease, Result } from "../../core/types.js";
import type { StoreError } from "../store.js";
import { unavailableMessage } from "./connection.js";
import { ReplicaAckError } from "./replica-ack.js";
import type { PoolStream, StreamWaiter } from "./pool-stream.js";
import { leaseOf, type Json } from "./lua-replies.js";

export type LeaseAnswer = Result<{ lease: Lease; available: number }, StoreError>;

/** How SETTLE_WAITER is asked to settle a waiter: look only, give up at the deadline, or withdraw. */
export type SettleMode = "check" | "timeout" | "cancel";

/** A waiter the ASSIGN script queued, as its reply described it. */
export interface QueuedAssign {
  readonly pool: string;
  readonly waiterId: number;
  /** The pool's event sequence when the waiter was queued: its outcome comes after it. */
  readonly registeredAt: number;
  /** The pool incarnation the waiter belongs to (its creation stamp). */
  readonly incarnation: string;
  readonly waitMs: number;
  /** This waiting call's id: a retry that takes the waiter over gets a new one, and this call lets go. */
  readonly claim: string;
}

export interface BlockedAssignsDeps {
  /** Runs the SETTLE_WAITER script for this waiter. */
  settle(pool: string, waiterId: number, mode: SettleMode, claim: string): Promise<Json>;
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

/** The blocked assigns of one replica, so that closing the store can answer every one of them. */
export class BlockedAssigns {
  private readonly waiting = new Set<{ shutdown(): Promise<void> }>();
  /** Waits per pool on this replica: the pools whose liveness lease it renews. */
  private readonly pools = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly deps: BlockedAssignsDeps) {}

  /** Counts a wait of this replica in `pool` (a gang's too): its liveness lease there is renewed while any runs. */
  trackLiveness(pool: string, delta: 1 | -1): void {
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

  /**
   * Waits for the outcome of a queued assign. Redis keeps one FIFO queue per pool for all replicas;
   * the outcome arrives on the pool's event stream (ASSIGNED or WAITER_TIMED_OUT for this waiter id),
   * and the local deadline, a cancel, or a gap in the stream settle it through the SETTLE_WAITER script.
   */
  wait(queued: QueuedAssign, signal: AbortSignal | undefined): Promise<LeaseAnswer> {
    const { pool, waiterId, registeredAt, incarnation, waitMs, claim } = queued;
    return new Promise<LeaseAnswer>((resolve) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = async (mode: SettleMode): Promise<void> => {
        let reply: Json;
        try {
          reply = await this.deps.settle(pool, waiterId, mode, claim);
        } catch (e) {
          if (mode === "timeout") finish(fail({ code: "UNAVAILABLE", message: unavailableMessage(e, this.deps.where) }));
          return;
        }
        switch (reply.state) {
          case "granted": {
            const grant = reply.grant as Json;
            finish({ ok: true, value: { lease: leaseOf(pool, grant), available: Number(reply.available ?? grant.av) } });
            return;
          }
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
          if (!detach()) return;
          // Collects the grant record (kept for a replica that might miss this event) and, like the
          // in-process store, reports the free count once the operation that freed the token is over
          // (it may free more, e.g. GenerateTokens) rather than as of the grant inside it.
          void this.deps.settle(pool, waiterId, "check", claim).then(
            (reply) => resolve({ ok: true, value: { lease, available: Number(reply.available ?? availableAtGrant) } }),
            // Not confirmed by the replicas --redis-min-replicas-ack asks for: the grant may not survive a failover.
            (e: unknown) =>
              resolve(
                e instanceof ReplicaAckError
                  ? fail({ code: "UNAVAILABLE", message: e.message })
                  : { ok: true, value: { lease, available: availableAtGrant } },
              ),
          );
        },
        timedOut: (poolDeleted) => finish(fail(poolDeleted ? { code: "POOL_NOT_FOUND", pool } : { code: "WAIT_TIMEOUT", pool })),
        recheck: () => void settle("check"),
      };
      const onAbort = (): void => {
        if (done) return;
        // Answer at once; the script dequeues the waiter or gives back a token granted meanwhile.
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
      const finish = (answer: LeaseAnswer): void => {
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

  /** Answers every waiting assign UNAVAILABLE and withdraws it from its queue. */
  async shutdownAll(): Promise<void> {
    await Promise.allSettled([...this.waiting].map((b) => b.shutdown()));
  }
}
