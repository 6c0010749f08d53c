// One held lease as the client sees it: alive only while proven. The proof is the send time of the
// last acknowledged renewal (monotonic clock) + TTL − safety margin; past it, or on the server's
// word that the lease is gone, `signal` aborts with a LeaseLostError saying which.

import { LeaseLostError, type LeaseLostKind } from "./errors.js";
import { monotonicNow, timestampDate } from "./timing.js";
import type { Lease as LeaseMessage } from "../../gen/es/tokenpool/v1/token_service_pb.js";

export interface Lease extends AsyncDisposable {
  readonly pool: string;
  readonly token: string;
  readonly owner: string;
  /** The fencing generation: pass it to whatever the token guards, so a stale holder is refused there. */
  readonly generation: bigint;
  /** The server's lease deadline (its wall clock) as of the last acknowledged renewal. */
  readonly expireTime: Date;
  readonly ttlMs: number;
  /** Aborts, with a LeaseLostError as reason, the moment the lease can no longer be proven held. */
  readonly signal: AbortSignal;
  /** performance.now() value until which the lease is proven held. */
  readonly validUntil: number;
  /** Checks the proof against the clock now (a timer can fire late on a busy event loop). */
  isValid(): boolean;
  /** Throws the LeaseLostError if the lease is no longer proven. */
  assertValid(): void;
  /** Releases it on the server (fenced by generation and owner); the signal aborts first. */
  release(): Promise<void>;
}

export interface LeaseHooks {
  /** Called once when the lease stops counting (any reason), before the signal's listeners run. */
  onEnd(lease: HeldLease, kind: LeaseLostKind): void;
  /** Sends the fenced ReleaseToken. */
  releaseRemote(lease: HeldLease): Promise<void>;
}

export class HeldLease implements Lease {
  readonly pool: string;
  readonly token: string;
  readonly owner: string;
  readonly generation: bigint;
  readonly ttlMs: number;
  readonly marginMs: number;
  expireTime: Date;
  validUntil: number;
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private released: Promise<void> | undefined;

  constructor(
    message: LeaseMessage,
    ttlMs: number,
    marginMs: number,
    /** Monotonic send time of the request that proved this lease held (the assign). */
    provenFrom: number,
    private readonly hooks: LeaseHooks,
  ) {
    this.pool = message.pool;
    this.token = message.token;
    this.owner = message.owner;
    this.generation = message.generation;
    this.ttlMs = ttlMs;
    this.marginMs = marginMs;
    this.expireTime = timestampDate(message.expireTime);
    this.validUntil = provenFrom + ttlMs - marginMs;
    this.arm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  isValid(): boolean {
    if (this.controller.signal.aborted) return false;
    if (monotonicNow() < this.validUntil) return true;
    this.lose("unproven", this.unprovenMessage());
    return false;
  }

  assertValid(): void {
    if (!this.isValid()) throw this.controller.signal.reason;
  }

  /** A renewal sent at `sentAt` was acknowledged for this very lease (same generation and owner). */
  prove(sentAt: number, renewed: LeaseMessage): void {
    if (this.controller.signal.aborted) return; // a lost lease stays lost, whatever answer arrives late
    const until = sentAt + this.ttlMs - this.marginMs;
    if (until <= this.validUntil) return;
    this.validUntil = until;
    this.expireTime = timestampDate(renewed.expireTime);
    this.arm();
  }

  lose(kind: LeaseLostKind, message: string): void {
    if (this.controller.signal.aborted) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.hooks.onEnd(this, kind);
    this.controller.abort(new LeaseLostError(kind, `${this.pool}/${this.token} generation ${this.generation}: ${message}`));
  }

  release(): Promise<void> {
    if (this.released) return this.released;
    if (this.controller.signal.aborted) return (this.released = Promise.resolve()); // nothing of ours left to release
    this.lose("released", "released by its holder");
    this.released = this.hooks.releaseRemote(this);
    return this.released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  private arm(): void {
    // setTimeout runs on the same monotonic clock; the proof is re-checked on firing in case it ran early.
    const check = () => {
      if (this.isValid()) this.timer = setTimeout(check, Math.max(1, this.validUntil - monotonicNow()));
    };
    clearTimeout(this.timer);
    this.timer = setTimeout(check, Math.max(0, this.validUntil - monotonicNow()));
  }

  private unprovenMessage(): string {
    return `no renewal acknowledged in time (proof ran out ${Math.round(monotonicNow() - this.validUntil)} ms ago; TTL ${this.ttlMs} ms, margin ${this.marginMs} ms): the server may expire it any moment`;
  }
}
