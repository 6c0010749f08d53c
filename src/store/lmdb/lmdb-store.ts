// The embedded durable store: a LocalStore recovered from, and group-committed to, lmdb in DATA_DIR
// under a one-process lock; after a failed commit it reloads the last committed state from disk.

import { join } from "node:path";
import type { Clock } from "../../runtime/clock.js";
import type { EventHubOptions } from "../../runtime/event-hub.js";
import type { Logger } from "../../server/logger.js";
import { LocalStore, type CoreFactory } from "../local-store.js";
import { DataDirBusy, lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import { DATA_FILE, ensureDataDir, LmdbOpenError, message, openData, type LmdbData } from "./lmdb-env.js";
import { LmdbPersistence } from "./lmdb-persistence.js";
import { CorruptRecord } from "./records.js";
import { loadCore } from "./recovery.js";

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
}

/** Opens or creates the data dir and recovers its state; throws LmdbOpenError with a one-line reason. */
export function openLmdbStore(options: LmdbStoreOptions): LocalStore {
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
  const load =
    (why: string): CoreFactory =>
    (onEvent) => {
      const { core, stats } = loadCore(data, { now: options.clock.now(), graceMs: options.restartGraceMs, log, onEvent });
      log.info({ ...stats, dataDir }, why);
      return core;
    };
  const reload = (why: string): void => {
    try {
      store?.replaceCore(load(why));
    } catch (e) {
      log.fatal({ err: e }, "stored state cannot be reloaded; every call fails until restart");
    }
  };
  const persistence = new LmdbPersistence(data, lock, {
    log,
    ...(options.probeIntervalMs !== undefined && { probeIntervalMs: options.probeIntervalMs }),
    ...(options.beforeCommit && { beforeCommit: options.beforeCommit }),
    onFailure: () => reload("state reloaded from disk after a failed commit"),
    onRecovered: () => reload("state reloaded from disk; writes resume"),
  });
  try {
    store = new LocalStore({ kind: "lmdb", clock: options.clock, events: options.events, persistence, core: load("state recovered") });
  } catch (e) {
    void persistence.close();
    const file = join(dataDir, DATA_FILE);
    throw new LmdbOpenError(
      e instanceof CorruptRecord
        ? `corrupt data in ${file}: ${e.message}; refusing to start; restore a backup (docs/STORAGE.md)`
        : `cannot load ${file}: ${message(e)}; refusing to start`,
    );
  }
  return store;
}
