// The two global indexes in the {tokenpool} slot: pool names for ListPools, and each pool's next due
// time for the reapers. Pool scripts report due changes with a version; this forwards them here.

import type { RedisClient } from "./connection.js";
import { INDEX_KEYS } from "./keys.js";
import { CLAIM_DUE, DUE_DROP_GONE, DUE_SET, INDEX_ADD, INDEX_REMOVE } from "./lua/index-scripts.js";
import { LuaScript } from "./lua-script.js";
import { list, type Json } from "./lua-replies.js";
import { within } from "./deadline.js";

const scripts = {
  add: new LuaScript("index_add", INDEX_ADD),
  remove: new LuaScript("index_remove", INDEX_REMOVE),
  setDue: new LuaScript("due_set", DUE_SET),
  claim: new LuaScript("due_claim", CLAIM_DUE),
  dropGone: new LuaScript("due_drop_gone", DUE_DROP_GONE),
};

const [POOLS, INC, DUE, DVER] = INDEX_KEYS as [string, string, string, string];

/** A due time reported by a pool script: [time or "" for none, version]. */
export type DueReport = readonly [string, string];

export function dueReportOf(v: unknown): DueReport | undefined {
  const r = list(v);
  return r.length === 2 ? [String(r[0]), String(r[1])] : undefined;
}

export interface Claim {
  /** Redis server time of the claim. */
  readonly now: number;
  readonly pools: string[];
  /** Earliest due time left in the index (server time), if any. */
  readonly next: number | undefined;
}

/** Every call is bounded by `timeoutMs` (the reaper's included), like the pool scripts. */
export class PoolIndex {
  constructor(
    private readonly client: RedisClient,
    private readonly timeoutMs: number,
  ) {}

  async add(name: string, incarnation: string): Promise<void> {
    await within(scripts.add.run(this.client, [POOLS, INC], [name, incarnation]), this.timeoutMs);
  }

  async remove(name: string, incarnation: string, created: string): Promise<void> {
    await within(scripts.remove.run(this.client, [POOLS, INC, DUE, DVER], [name, incarnation, created]), this.timeoutMs);
  }

  /** Up to `limit` listed names after `after`, in name order (a listed pool may be gone already). */
  async names(after: string | undefined, limit: number): Promise<string[]> {
    return within(this.client.zrangebylex(POOLS, after === undefined ? "-" : `(${after}`, "+", "LIMIT", 0, limit), this.timeoutMs);
  }

  async setDue(name: string, report: DueReport): Promise<void> {
    await within(scripts.setDue.run(this.client, [DUE, DVER], [name, report[0], report[1]]), this.timeoutMs);
  }

  async claim(max: number, claimMs: number): Promise<Claim> {
    const reply = (await within(scripts.claim.json(this.client, [DUE], [max, claimMs]), this.timeoutMs)) as Json;
    return {
      now: Number(reply.now),
      pools: list(reply.pools).map(String),
      next: reply.next === undefined ? undefined : Number(reply.next),
    };
  }

  async dropGone(name: string): Promise<void> {
    await within(scripts.dropGone.run(this.client, [DUE, DVER], [name]), this.timeoutMs);
  }
}
