// The embedded durable store: a LocalStore recovered from, and group-committed to, lmdb in DATA_DIR
// under a one-process lock; after a failed commit it reloads the last committed state from disk.

import { join } from "node:path";
import type { LeaseEvent } from "../../core/types.js";
import type { Clock } from "../../runtime/clock.js";
import type { EventHubOptions } from "../../runtime/event-hub.js";
import type { Logger } from "../../runtime/logger.js";
import { LocalStore, type CoreFactory } from "../local-store.js";
import type { StoreObserver } from "../store.js";
import { DataDirBusy, lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import { DATA_FILE, ensureDataDir, LmdbOpenError, message, openData, type LmdbData } from "./lmdb-env.js";
import { LmdbPersistence } from "./lmdb-persistence.js";
import { CorruptRecord } from "./records.js";
import { loadCore, loadCoreYielding, type Loaded } from "./recovery.js";

export interface LmdbStoreOptions {
  readonly dataDir: string;
  /** Recovered deadlines are pushed to at least load time + this (see recovery.ts). */
  readonly restartGraceMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: EventHubOptions;
  /** How often storage is retried after a failed commit. */
  readonly probeIntervalMs?: number;
  /** Fault injection for tests (see LmdbPersistenceOptions.beforeCommit). */
  readonly beforeCommit?: () => void;
  /** Told commit latencies and expiry lateness (metrics). */
  readonly observer?: StoreObserver;
}

/** Opens or creates the data dir and recovers its state; throws LmdbOpenError with a one-line reason. */
export function openLmdbStore(options: LmdbStoreOptions): LocalStore {
  const opened = openDir(options);
  return opened.build(opened.loader("state recovered"));
}

/**
 * As openLmdbStore, but the recovery yields to the event loop as it goes, so a server can answer
 * health probes (and refuse calls) while a large data dir loads.
 */
export async function recoverLmdbStore(options: LmdbStoreOptions): Promise<LocalStore> {
  const opened = openDir(options);
  let loaded: Loaded;
  // The core exists before the store that will receive its events: forward them once it does.
  let forward: (e: LeaseEvent) => void = () => undefined;
  try {
    loaded = await loadCoreYielding(opened.data, { ...opened.loadOptions(), onEvent: (e) => forward(e) });
  } catch (e) {
    throw opened.failed(e);
  }
  options.log.info({ ...loaded.stats, dataDir: options.dataDir }, "state recovered");
  return opened.build((onEvent) => {
    forward = onEvent;
    return loaded.core;
  });
}

interface OpenedDir {
  readonly data: LmdbData;
  readonly loadOptions: () => { now: number; graceMs: number; log: Logger };
  /** Loads state in one go, logging `why` with the figures. */
  readonly loader: (why: string) => CoreFactory;
  /** The store over this dir, its state built by `initial`; throws LmdbOpenError if that fails. */
  readonly build: (initial: CoreFactory) => LocalStore;
  /** Releases the dir after a failed load and says why in one line. */
  readonly failed: (e: unknown) => LmdbOpenError;
}

function openDir(options: LmdbStoreOptions): OpenedDir {
  const { dataDir, log } = options;
  ensureDataDir(dataDir);
  let lock: DataDirLock;
  try {
    lock = lockDataDir(dataDir);
  } catch (e) {
    throw new LmdbOpenError(e instanceof DataDirBusy ? e.message : `cannot lock data dir ${dataDir}: ${message(e)}`);
  }
  let data: LmdbData;
  try {
    data = openData(dataDir);
  } catch (e) {
    lock.release();
    throw e;
  }

  let store: LocalStore | undefined;
  const observer = options.observer;
  const loadOptions = () => ({ now: options.clock.now(), graceMs: options.restartGraceMs, log });
  const loader =
    (why: string): CoreFactory =>
    (onEvent) => {
      const { core, stats } = loadCore(data, { ...loadOptions(), onEvent });
      log.info({ ...stats, dataDir }, why);
      return core;
    };
  const reload = (why: string): void => {
    try {
      store?.replaceCore(loader(why));
    } catch (e) {
      log.fatal({ err: e }, "stored state cannot be reloaded; every call fails until restart");
    }
  };
  const persistence = new LmdbPersistence(data, lock, {
    log,
    ...(options.probeIntervalMs !== undefined && { probeIntervalMs: options.probeIntervalMs }),
    ...(options.beforeCommit && { beforeCommit: options.beforeCommit }),
    ...(observer && { onCommit: (seconds: number) => observer.commit(seconds) }),
    onFailure: () => reload("state reloaded from disk after a failed commit"),
    onRecovered: () => reload("state reloaded from disk; writes resume"),
  });
  const failed = (e: unknown): LmdbOpenError => {
    void persistence.close();
    const file = join(dataDir, DATA_FILE);
    return new LmdbOpenError(
      e instanceof CorruptRecord
        ? `corrupt data in ${file}: ${e.message}; refusing to start; restore a backup (docs/STORAGE.md)`
        : `cannot load ${file}: ${message(e)}; refusing to start`,
    );
  };
  const build = (initial: CoreFactory): LocalStore => {
    try {
      store = new LocalStore({
        kind: "lmdb",
        clock: options.clock,
        events: options.events,
        persistence,
        core: initial,
        ...(observer && { observer }),
      });
    } catch (e) {
      throw failed(e);
    }
    return store;
  };
  return { data, loadOptions, loader, build, failed };
}
