// A waiting AssignTokens on Redis: the gang sits in its pool's gang queue (GQ) until the pool grants
// all its tokens at once (queued-wait.ts runs the wait). The gang's ASSIGNED events carry its waiter
// id; the first says the grant record is there, and SETTLE_GANG collects it.

import type { Lease, Result } from "../../core/types.js";
import type { StoreError } from "../store.js";
import { leaseOf, list, type Json } from "./lua-replies.js";
import type { QueueRules, SettleMode } from "./queued-wait.js";

type Granted = { leases: Lease[]; available: number };
export type GangAnswer = Result<Granted, StoreError>;

/** The rules of one gang's wait, given how to run SETTLE_GANG for it. */
export function gangQueueRules(pool: string, settle: (mode: SettleMode) => Promise<Json>): QueueRules<Granted> {
  return {
    settle,
    granted: (reply) => ({ leases: list(reply.gang).map((l) => leaseOf(pool, l)), available: Number(reply.available) }),
    // A gang's grant is only known once collected: a check that fails ends the wait UNAVAILABLE.
    failOnErrorIn: new Set<SettleMode>(["check", "timeout"]),
  };
}
