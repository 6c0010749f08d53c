// A waiting AssignTokens on Redis: the gang sits in its pool's gang queue (GQ, in Redis for every
// replica) until the pool grants all its tokens at once, its deadline passes, its caller cancels, or
// the replica shuts down. Like blocked-assign.ts for single waiters, the grant is noticed on the pool's
// event stream (the gang's ASSIGNED events carry its waiter id) and collected with SETTLE_GANG. While it
// waits, this replica renews its liveness lease in the pool: Redis drops a dead replica's gangs.

import type { Lease, Result } from "../../core/types.js";
import type { StoreError } from "../store.js";
import type { SettleMode } from "./blocked-assign.js";
import { unavailableMessage } from "./connection.js";
import { leaseOf, list, type Json } from "./lua-replies.js";
import type { PoolStream, StreamWaiter } from "./pool-stream.js";

export type GangAnswer = Result<{ leases: Lease[]; available: number }, StoreError>;

export interface QueuedGang {
  readonly pool: string;
  readonly waiterId: number;
  readonly registeredAt: number;
  readonly incarnation: string;
  readonly waitMs: number;
}

export interface GangWaitDeps {
  /** Runs SETTLE_GANG for this waiter. */
  settle(pool: string, waiterId: number, mode: SettleMode): Promise<Json>;
  /** Counts this wait in its pool, so the replica renews its liveness lease there (Redis serves only live gangs). */
  liveness(pool: string, delta: 1 | -1): void;
  stream(pool: string, incarnation: string, from: number): PoolStream;
  readonly where: string;
}

const fail = (error: StoreError): { ok: false; error: StoreError } => ({ ok: false, error });

/** The waiting gangs of one replica, so closing the store can answer and withdraw each. */
export class GangWaits {
  private readonly waiting = new Set<{ shutdown(): Promise<void> }>();

  constructor(private readonly deps: GangWaitDeps) {}

  wait(queued: QueuedGang, signal: AbortSignal | undefined): Promise<GangAnswer> {
    const { pool, waiterId, registeredAt, incarnation, waitMs } = queued;
    return new Promise<GangAnswer>((resolve) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      /** Asks Redis how the wait stands; a grant is collected (and, on cancel, given back) there. */
      const settle = async (mode: SettleMode): Promise<void> => {
        let reply: Json;
        try {
          reply = await this.deps.settle(pool, waiterId, mode);
        } catch (e) {
          if (mode !== "cancel") finish(fail({ code: "UNAVAILABLE", message: unavailableMessage(e, this.deps.where) }));
          return;
        }
        switch (reply.state) {
          case "granted":
            finish({ ok: true, value: { leases: list(reply.gang).map((l) => leaseOf(pool, l)), available: Number(reply.available) } });
            return;
          case "gone":
            finish(fail({ code: "POOL_NOT_FOUND", pool }));
            return;
          case "queued":
            return;
          default: // removed, unknown (timed out by a reaper), cancelled
            if (mode === "timeout") finish(fail({ code: "WAIT_TIMEOUT", pool }));
        }
      };
      const waiter: StreamWaiter = {
        // One ASSIGNED per token of the gang, all from one script: the first says the grant record is there.
        granted: () => void settle("check"),
        timedOut: (poolDeleted) => finish(fail(poolDeleted ? { code: "POOL_NOT_FOUND", pool } : { code: "WAIT_TIMEOUT", pool })),
        recheck: () => void settle("check"),
      };
      const onAbort = (): void => {
        if (done) return;
        finish(fail({ code: "CANCELLED" }));
        void settle("cancel");
      };
      const entry = {
        shutdown: async (): Promise<void> => {
          finish(fail({ code: "UNAVAILABLE", message: "server is shutting down" }));
          await settle("cancel");
        },
      };
      const finish = (answer: GangAnswer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiting.delete(entry);
        this.deps.liveness(pool, -1);
        stream.removeWaiter(waiterId);
        resolve(answer);
      };
      this.waiting.add(entry);
      this.deps.liveness(pool, 1);
      const stream = this.deps.stream(pool, incarnation, registeredAt);
      stream.addWaiter(waiterId, waiter, registeredAt);
      timer = setTimeout(() => void settle("timeout"), waitMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  async shutdownAll(): Promise<void> {
    await Promise.allSettled([...this.waiting].map((b) => b.shutdown()));
  }
}
