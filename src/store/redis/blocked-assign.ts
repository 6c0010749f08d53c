// Blocking assigns on Redis: an AssignToken that found no free token waits in the pool's FIFO queue
// (queued-wait.ts runs the wait). Here: how such a waiter is settled, and what its grant looks like.

import type { Lease, Result } from "../../core/types.js";
import type { StoreError } from "../store.js";
import { ReplicaAckError } from "./replica-ack.js";
import { leaseOf, type Json } from "./lua-replies.js";
import type { QueueRules, SettleMode } from "./queued-wait.js";

type Granted = { lease: Lease; available: number };
export type LeaseAnswer = Result<Granted, StoreError>;

/** The rules of one single assign's wait, given how to run SETTLE_WAITER for it. */
export function assignQueueRules(pool: string, settle: (mode: SettleMode) => Promise<Json>): QueueRules<Granted> {
  return {
    settle,
    granted: (reply) => {
      const grant = reply.grant as Json;
      return { lease: leaseOf(pool, grant), available: Number(reply.available ?? grant.av) };
    },
    // The event carries the lease itself. Settling still collects the grant record (kept for a replica
    // that might miss this event) and, like the in-process store, reports the free count once the
    // operation that freed the token is over (it may free more, e.g. GenerateTokens) rather than as of
    // the grant inside it.
    grantEvent: (lease, availableAtGrant) =>
      settle("check").then(
        (reply): LeaseAnswer => ({ ok: true, value: { lease, available: Number(reply.available ?? availableAtGrant) } }),
        // Not confirmed by the replicas --redis-min-replicas-ack asks for: the grant may not survive a failover.
        (e: unknown): LeaseAnswer =>
          e instanceof ReplicaAckError ? { ok: false, error: { code: "UNAVAILABLE", message: e.message } } : { ok: true, value: { lease, available: availableAtGrant } },
      ),
    // A failed check leaves the waiter queued: the deadline's settle asks again, and answers UNAVAILABLE if that fails too.
    failOnErrorIn: new Set<SettleMode>(["timeout"]),
  };
}
