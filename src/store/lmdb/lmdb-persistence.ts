// Group commit of the core's state to lmdb: changes mark tokens and pools dirty, and one transaction at
// a time writes the current state of all of them. After a failed commit, writes wait for a probe commit.

import type { Logger } from "../../runtime/logger.js";
import type { TokenPools } from "../../core/token-pools.js";
import type { Persistence, PersistedChange } from "../local-store.js";
import type { DataDirLock } from "./data-dir-lock.js";
import { message, type LmdbData } from "./lmdb-env.js";
import { encodePool, encodeToken, poolRange, tokenKey, type PoolRecord, type TokenKey, type TokenValue } from "./records.js";

export const PROBE_KEY = "probe";

export interface LmdbPersistenceOptions {
  readonly log: Logger;
  /**
   * Called synchronously when a commit fails, before any caller waiting on it resumes: the store
   * reloads its state from disk there. Writes are refused from then on.
   */
  readonly onFailure: (reason: string) => void;
  /** Called once a probe commit has succeeded after a failure; writes are accepted again. */
  readonly onRecovered: () => void;
  readonly probeIntervalMs?: number;
  /** Fault injection for tests: runs first inside each commit's transaction; throwing fails that commit. */
  readonly beforeCommit?: () => void;
  /** Told how long each successful group commit took, from its start to durable (metrics). */
  readonly onCommit?: (seconds: number) => void;
}

interface Batch {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/** What one commit writes: pools whose token ranges go first, then pool and token records (undefined = remove). */
interface Writes {
  readonly dropped: readonly string[];
  readonly pools: readonly (readonly [string, PoolRecord | undefined])[];
  readonly tokens: readonly (readonly [TokenKey, TokenValue | undefined])[];
}

export class LmdbPersistence implements Persistence {
  private core: TokenPools | undefined;
  private dirtyTokens = new Map<string, Set<string>>();
  private dirtyPools = new Set<string>();
  /** Pools deleted since the last commit: every token record they had on disk goes. */
  private droppedPools = new Set<string>();
  /** The commit that will carry what is dirty now. */
  private next: Batch | undefined;
  private inFlight: Batch | undefined;
  private scheduled = false;
  private failure: string | undefined;
  private closed = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly probeIntervalMs: number;

  constructor(
    private readonly data: LmdbData,
    private readonly lock: DataDirLock,
    private readonly options: LmdbPersistenceOptions,
  ) {
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
  }

  record(change: PersistedChange, core: TokenPools): void {
    this.core = core;
    switch (change.kind) {
      case "event": {
        const { pool, token } = change.event;
        // Every event moves the pool's sequence mark (and maybe its generation mark).
        this.dirtyPools.add(pool);
        if (token !== "") {
          let set = this.dirtyTokens.get(pool);
          if (!set) this.dirtyTokens.set(pool, (set = new Set()));
          set.add(token);
        }
        break;
      }
      case "pool-created":
      case "pool-updated":
        this.dirtyPools.add(change.stats.name);
        break;
      case "pool-deleted":
        this.droppedPools.add(change.pool);
        this.dirtyTokens.delete(change.pool);
        this.dirtyPools.add(change.pool);
        break;
    }
    this.schedule();
  }

  flush(): Promise<void> {
    if (this.isDirty()) {
      this.next ??= batch();
      return this.next.promise;
    }
    return this.inFlight?.promise ?? Promise.resolve();
  }

  writeBlocked(): string | undefined {
    return this.closed ? "server is shutting down" : this.failure;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    await this.flush().catch(() => undefined);
    await this.data.env.close();
    this.lock.release();
  }

  private isDirty(): boolean {
    return this.dirtyPools.size > 0 || this.droppedPools.size > 0 || this.dirtyTokens.size > 0;
  }

  /** Starts a commit at the end of this event-loop turn, so every mutation of the turn rides on it. */
  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startCommit();
    });
  }

  private startCommit(): void {
    if (this.inFlight || this.failure !== undefined || !this.isDirty()) return;
    const current = this.next ?? batch();
    this.next = undefined;
    const writes = this.collect();
    this.inFlight = current;
    const { env, pools, tokens } = this.data;
    const started = performance.now();
    // A child transaction, so a throw part-way through (a fault, an encoding error) rolls back all of
    // this batch rather than committing half of it.
    env
      .childTransaction(() => {
        this.options.beforeCommit?.();
        for (const pool of writes.dropped) {
          const keys = [...tokens.getKeys(poolRange(pool))];
          for (const key of keys) tokens.remove(key);
        }
        for (const [name, record] of writes.pools) {
          if (record) pools.put(name, encodePool(record));
          else pools.remove(name);
        }
        for (const [key, value] of writes.tokens) {
          if (value) tokens.put(key, value);
          else tokens.remove(key);
        }
      })
      .then(
        () => {
          this.inFlight = undefined;
          this.options.onCommit?.((performance.now() - started) / 1000);
          current.resolve();
          // What accumulated while this commit synced goes out now, as one transaction.
          if (this.isDirty()) this.startCommit();
        },
        (e: unknown) => {
          this.inFlight = undefined;
          this.fail(e, current);
        },
      );
  }

  /** Reads the current state of everything dirty from the core, and clears the dirty sets. */
  private collect(): Writes {
    const core = this.core;
    const dropped = [...this.droppedPools];
    const pools: (readonly [string, PoolRecord | undefined])[] = [];
    const tokens: (readonly [TokenKey, TokenValue | undefined])[] = [];
    if (core) {
      for (const name of this.dirtyPools) {
        const stats = core.getPool(name);
        pools.push([name, stats.ok ? { config: stats.value.config, generation: stats.value.generation, sequence: stats.value.sequence } : undefined]);
      }
      for (const [pool, set] of this.dirtyTokens) {
        for (const token of set) {
          const info = core.get(pool, token);
          if (info.ok) tokens.push([tokenKey(pool, token), encodeToken(info.value)]);
          else if (info.error.code === "TOKEN_NOT_FOUND") tokens.push([tokenKey(pool, token), undefined]);
          // POOL_NOT_FOUND: the pool went after this token changed; its range removal covers it.
        }
      }
    }
    this.dirtyPools = new Set();
    this.dirtyTokens = new Map();
    this.droppedPools = new Set();
    return { dropped, pools, tokens };
  }

  private fail(e: unknown, failed: Batch): void {
    const reason = `storage commit failed: ${describe(e, this.options.log)}`;
    this.failure = reason;
    // Nothing after the last good commit will be written: memory is reloaded from disk instead.
    const waiting = this.next;
    this.next = undefined;
    this.dirtyPools = new Set();
    this.dirtyTokens = new Map();
    this.droppedPools = new Set();
    this.options.log.error({ reason }, "commit failed; writes are refused until a probe commit succeeds");
    try {
      this.options.onFailure(reason);
    } catch (x) {
      this.options.log.error({ err: x }, "reloading state after a failed commit failed");
    }
    const error = new Error(reason);
    failed.reject(error);
    waiting?.reject(error);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.probeTimer = setTimeout(() => this.probe(), this.probeIntervalMs);
    this.probeTimer.unref();
  }

  /** A small durable write: when it commits, the disk takes writes again. */
  private probe(): void {
    this.probeTimer = undefined;
    if (this.closed) return;
    this.data.env
      .childTransaction(() => {
        this.options.beforeCommit?.();
        this.data.meta.put(PROBE_KEY, Date.now());
      })
      .then(
        () => {
          if (this.closed) return;
          this.failure = undefined;
          this.options.log.warn("storage accepts commits again; writes resume");
          this.options.onRecovered();
        },
        (e: unknown) => {
          this.options.log.warn({ reason: describe(e, this.options.log) }, "storage still failing");
          this.scheduleProbe();
        },
      );
  }
}

function batch(): Batch {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting on a batch (e.g. an expiry commit whose answer is ignored).
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * lmdb-js rejects a failed commit with a generic error whose `commitError` promise carries the cause
 * (ENOSPC, EIO...); that promise must be handled or it crashes the process as an unhandled rejection.
 */
function describe(e: unknown, log: Logger): string {
  if (e instanceof Error && "commitError" in e && e.commitError instanceof Promise) {
    e.commitError.then(undefined, (cause: unknown) => log.error({ cause: message(cause) }, "lmdb commit error"));
    return `${e.message.replace(/ \(see commitError for details\)/, "")}`;
  }
  return message(e);
}
