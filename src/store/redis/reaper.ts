// Each replica's expiry loop. It sleeps until the earliest due time in the global due index (or until a
// local write reports an earlier one), claims due pools so replicas share the work instead of racing
// for it, and expires each pool's timers in bounded batches through the REAP script.

import type { Logger } from "../../runtime/logger.js";
import type { PoolIndex } from "./pool-index.js";

export interface ReaperOptions {
  /** Pools claimed per round. */
  readonly poolsPerClaim: number;
  /** How long a claim keeps other replicas off a pool; also the lateness bound if this replica dies mid-reap. */
  readonly claimMs: number;
  /** Longest sleep: bounds lateness for deadlines other replicas scheduled (they poke only themselves). */
  readonly maxSleepMs: number;
  /** Every pool is re-reaped this often, repairing due reports lost with a crashed replica. */
  readonly sweepMs: number;
}

export interface ReapOutcome {
  readonly gone: boolean;
  readonly more: boolean;
}

export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  /** Server time the timer is armed for. */
  private armedAt = Infinity;
  /** Server clock minus local clock, from the last claim. */
  private offset = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failing = false;
  private nextSweep = 0;
  /** Earliest deadline poked while a round was running (server time). */
  private pokedDuringRound = Infinity;

  constructor(
    private readonly index: PoolIndex,
    private readonly reapPool: (pool: string) => Promise<ReapOutcome>,
    private readonly options: ReaperOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.nextSweep = Date.now() + this.options.sweepMs * (0.5 + Math.random() / 2);
    this.arm(0);
  }

  /** A write on this replica scheduled a deadline at `at` (server time); wake by then. */
  poke(at: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.pokedDuringRound = Math.min(this.pokedDuringRound, at);
      return;
    }
    if (at >= this.armedAt) return;
    this.arm(at - (Date.now() + this.offset));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(delayMs, this.options.maxSleepMs));
    this.armedAt = Date.now() + this.offset + delay;
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  private wake(): void {
    this.timer = undefined;
    if (this.running) return;
    this.running = this.round().finally(() => {
      this.running = undefined;
      const poked = this.pokedDuringRound;
      this.pokedDuringRound = Infinity;
      if (poked !== Infinity) this.poke(poked);
    });
  }

  private async round(): Promise<void> {
    let sleep: number = this.options.maxSleepMs;
    try {
      for (;;) {
        if (this.stopped) return;
        const claim = await this.index.claim(this.options.poolsPerClaim, this.options.claimMs);
        this.offset = claim.now - Date.now();
        for (const pool of claim.pools) await this.drain(pool);
        if (claim.pools.length === 0) {
          sleep = claim.next === undefined ? this.options.maxSleepMs : claim.next - claim.now;
          break;
        }
        // Give queued client calls a turn between rounds.
        await new Promise((r) => setImmediate(r));
      }
      if (Date.now() >= this.nextSweep) {
        await this.sweep();
        this.nextSweep = Date.now() + this.options.sweepMs;
      }
      if (this.failing) this.log.info("reaper: redis reachable again");
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.log.warn({ err: e }, "reaper: redis call failed; retrying");
      this.failing = true;
      sleep = Math.min(500, this.options.maxSleepMs);
    }
    this.arm(sleep);
  }

  private async drain(pool: string): Promise<void> {
    for (;;) {
      const outcome = await this.reapPool(pool);
      if (outcome.gone) {
        await this.index.dropGone(pool);
        return;
      }
      if (!outcome.more || this.stopped) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Walks every listed pool once: expires what is due and re-advertises its next deadline. */
  private async sweep(): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const names = await this.index.names(after, 200);
      for (const name of names) if (!this.stopped) await this.drain(name);
      if (names.length < 200 || this.stopped) return;
      after = names[names.length - 1];
    }
  }
}
