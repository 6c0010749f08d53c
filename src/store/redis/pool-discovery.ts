// Which pools exist, for all-pools watches: one replica-wide lister of the pool-name index that runs
// only while someone watches all pools, listing again every rescan interval and at once when any
// replica creates a pool (CREATE_POOL publishes a notice). Only names are read, never tokens.

import type { Logger } from "../../runtime/logger.js";
import { createSubscriberClient, type ConnectionOptions, type RedisClient } from "./connection.js";
import { POOL_CREATED_CHANNEL } from "./keys.js";
import type { PoolIndex } from "./pool-index.js";

/**
 * Gets every listing: all listed names (a listed pool may be gone already, or not created yet), and
 * whether a creation notice (or a fresh subscription) prompted it rather than the periodic rescan.
 */
export type PoolListener = (names: readonly string[], prompted: boolean) => void;

export interface PoolDiscoveryOptions {
  readonly index: PoolIndex;
  readonly connection: ConnectionOptions;
  /** Longest a new pool goes unnoticed when its creation notice is lost. */
  readonly rescanMs: number;
  readonly log: Logger;
}

const PAGE = 1000;

export class PoolDiscovery {
  private readonly listeners = new Set<PoolListener>();
  private timer: NodeJS.Timeout | undefined;
  private notices: RedisClient | undefined;
  private scanning = false;
  /** A notice or tick arrived during a scan: list once more, as that scan may predate it. */
  private again = false;
  private prompted = false;
  private failing = false;

  constructor(private readonly options: PoolDiscoveryOptions) {}

  /** Every listed pool name, in name order. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.options.index.names(after, PAGE);
      out.push(...page);
      if (page.length < PAGE) return out;
      after = page[page.length - 1];
    }
  }

  /** Gives `listener` every listing from now on; returns what stops it (the last one stops the lister). */
  listen(listener: PoolListener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.stop();
    };
  }

  close(): void {
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    this.timer = setInterval(() => void this.scan(false), this.options.rescanMs);
    const notices = createSubscriberClient(this.options.connection);
    this.notices = notices;
    notices.on("error", () => undefined); // a lost notice channel only delays discovery to the next rescan
    notices.on("message", () => void this.scan(true));
    // Subscribing again on every (re)connect is harmless. Listing once subscribed leaves no gap: a pool
    // created before the subscription is in that listing, one created after it sends a notice.
    notices.on("ready", () => {
      if (this.notices !== notices) return; // stopped meanwhile
      const list = (): void => void this.scan(true);
      notices.subscribe(POOL_CREATED_CHANNEL).then(list, list);
    });
    notices.connect().catch(() => undefined);
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.notices?.disconnect();
    this.notices = undefined;
  }

  private async scan(prompted: boolean): Promise<void> {
    this.prompted ||= prompted;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = true;
    try {
      do {
        this.again = false;
        const wasPrompted = this.prompted;
        this.prompted = false;
        let names: string[];
        try {
          names = await this.list();
        } catch (e) {
          if (this.listeners.size === 0) return; // stopped meanwhile (shutdown): nothing to report
          if (!this.failing) this.options.log.warn({ err: e }, "cannot list pools for all-pools watches; retrying");
          this.failing = true;
          this.prompted ||= wasPrompted; // the next listing carries the notice
          return;
        }
        this.failing = false;
        for (const listener of [...this.listeners]) listener(names, wasPrompted);
      } while (this.again && this.listeners.size > 0);
    } finally {
      this.scanning = false;
    }
  }
}
