// One background loop per pool per client: every ~1/3 of the shortest TTL (jittered) it renews all
// of the client's leases in that pool with one KeepAlive call (more only past the server's batch
// limit), and turns each answer into proof or loss for every lease in it.

import { describeError } from "./errors.js";
import type { HeldLease } from "./lease.js";
import { backoff, jittered, monotonicNow } from "./timing.js";
import { KeepAliveStatus, type KeepAliveResponse } from "../../gen/es/tokenpool/v1/token_service_pb.js";

/**
 * The server's default limit on token ids per KeepAlive (MAX_BATCH_TOKENS, src/config/limits.ts).
 * Copied, not imported: the client must not depend on the server's code. A server configured lower
 * answers INVALID_ARGUMENT; the loop then halves its batch size until calls pass.
 */
export const SERVER_BATCH_LIMIT = 10_000;

/** Renewal calls of one pool allowed in the air at once: a stalled one does not stop the next try. */
const MAX_IN_FLIGHT = 2;

export interface KeepAliveCall {
  (pool: string, tokens: string[], timeoutMs: number): Promise<KeepAliveResponse>;
}

export class PoolKeeper {
  private readonly leases = new Map<string, HeldLease>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dueAt = Infinity;
  private inFlight = 0;
  private failures = 0;
  private batchLimit = SERVER_BATCH_LIMIT;
  private stopped = false;

  constructor(
    readonly pool: string,
    private readonly call: KeepAliveCall,
    private readonly renewFraction: number,
  ) {}

  get size(): number {
    return this.leases.size;
  }

  held(): HeldLease[] {
    return [...this.leases.values()];
  }

  add(lease: HeldLease): void {
    // The server handed us this token again, so any older lease of ours on it is over.
    this.leases.get(lease.token)?.lose("generation-changed", `the server assigned it again as generation ${lease.generation}`);
    this.leases.set(lease.token, lease);
    this.schedule(jittered(this.interval()));
  }

  remove(lease: HeldLease): void {
    if (this.leases.get(lease.token) === lease) this.leases.delete(lease.token);
    if (this.leases.size === 0) this.clearTimer();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  /** Renews `leases` now with calls sent at one measured instant; false if any call failed. */
  async renew(leases: readonly HeldLease[]): Promise<boolean> {
    const chunks: HeldLease[][] = [];
    for (let i = 0; i < leases.length; i += this.batchLimit) chunks.push(leases.slice(i, i + this.batchLimit));
    const outcomes = await Promise.all(chunks.map((c) => this.renewChunk(c)));
    return outcomes.every(Boolean);
  }

  /** Due renewal spacing: a third (by default) of the shortest TTL held. */
  private interval(): number {
    let ttl = Infinity;
    for (const l of this.leases.values()) ttl = Math.min(ttl, l.ttlMs - l.marginMs);
    return Math.max(10, ttl * this.renewFraction);
  }

  /** Moves the next tick to `delayMs` from now, unless one is already due sooner. */
  private schedule(delayMs: number): void {
    if (this.stopped || this.leases.size === 0) return;
    const at = monotonicNow() + delayMs;
    if (this.timer !== undefined && this.dueAt <= at) return;
    clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => this.tick(), delayMs);
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = Infinity;
  }

  private tick(): void {
    this.timer = undefined;
    this.dueAt = Infinity;
    if (this.stopped || this.leases.size === 0) return;
    if (this.inFlight < MAX_IN_FLIGHT) {
      this.inFlight++;
      void this.renew(this.held()).then((ok) => {
        this.inFlight--;
        this.failures = ok ? 0 : this.failures + 1;
        // A failed round is retried soon (backoff), well before the proof of any lease runs out.
        if (!ok) this.schedule(backoff(this.failures, 50, this.interval()));
      });
    }
    this.schedule(jittered(this.interval()));
  }

  private async renewChunk(chunk: readonly HeldLease[]): Promise<boolean> {
    // An answer to a call sent now proves nothing past now + TTL − margin: waiting longer is useless.
    let timeoutMs = Infinity;
    for (const l of chunk) timeoutMs = Math.min(timeoutMs, l.ttlMs - l.marginMs);
    const sentAt = monotonicNow();
    let res: KeepAliveResponse;
    try {
      res = await this.call(this.pool, chunk.map((l) => l.token), Math.max(50, timeoutMs));
    } catch (e) {
      const d = describeError(e);
      if (d.reason === "POOL_NOT_FOUND") {
        for (const l of chunk) l.lose("token-gone", "the pool no longer exists");
        return true;
      }
      if (d.code === "INVALID_ARGUMENT" && chunk.length > 1 && /token|batch|many/i.test(d.message)) {
        this.batchLimit = Math.max(1, Math.floor(chunk.length / 2)); // a server with a lower --max-batch
      }
      return false;
    }
    const byToken = new Map(res.results.map((r) => [r.token, r]));
    for (const l of chunk) {
      const r = byToken.get(l.token);
      if (!r) continue;
      if (r.status === KeepAliveStatus.NOT_FOUND) l.lose("token-gone", "the token no longer exists (deleted or idle-expired)");
      else if (!r.lease) l.lose("not-held", "the server says the token is free: the lease expired or was released there");
      else if (r.lease.generation !== l.generation || r.lease.owner !== l.owner)
        l.lose("generation-changed", `the token is now held as generation ${r.lease.generation} by ${JSON.stringify(r.lease.owner)}`);
      else l.prove(sentAt, r.lease);
    }
    return true;
  }
}
