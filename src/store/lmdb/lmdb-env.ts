// Opens the lmdb environment of a data dir with durable-commit settings, and refuses data it cannot
// vouch for: an unreadable file, foreign content, or a missing or different format marker.

import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { LOCK_FILE } from "./data-dir-lock.js";
import { FORMAT_KEY, FORMAT_NAME, FORMAT_VERSION, isFormatMarker, type TokenKey } from "./records.js";

export const DATA_FILE = "tokenpool.mdb";

/** Why a data dir cannot be used; the message is the one line an operator sees. */
export class LmdbOpenError extends Error {}

export interface LmdbData {
  readonly dir: string;
  readonly env: RootDatabase<unknown, string>;
  /** The format marker (and the probe key used after a failed commit). */
  readonly meta: Database<unknown, string>;
  /** Pool name → PoolRecord. */
  readonly pools: Database<unknown, string>;
  /** tokenKey(pool, token) → TokenValue. */
  readonly tokens: Database<unknown, TokenKey>;
}

/** Entries a data dir may hold besides ours without being "someone else's directory". */
const HARMLESS = new Set([LOCK_FILE, `${DATA_FILE}-lock`, "lost+found"]);

const REFUSE = "refusing to start; restore a backup (docs/STORAGE.md) or point DATA_DIR elsewhere";

export function ensureDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new LmdbOpenError(`cannot create data dir ${dir}: ${message(e)}`);
  }
}

/** Opens (creating when new) the environment; the caller holds the data-dir lock. */
export function openData(dir: string): LmdbData {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    throw new LmdbOpenError(`cannot read data dir ${dir}: ${message(e)}`);
  }
  const fresh = !entries.includes(DATA_FILE);
  const foreign = entries.filter((e) => !HARMLESS.has(e) && e !== DATA_FILE && !e.startsWith("."));
  if (fresh && foreign.length > 0) {
    throw new LmdbOpenError(`data dir ${dir} holds no tokenpool data but is not empty (${foreign.slice(0, 3).join(", ")}); ${REFUSE}`);
  }

  if (!fresh) {
    const problem = headerProblem(join(dir, DATA_FILE));
    if (problem) throw new LmdbOpenError(`${join(dir, DATA_FILE)} is not a valid lmdb file (${problem}); ${REFUSE}`);
  }

  let env: RootDatabase<unknown, string>;
  try {
    env = open<unknown, string>({
      path: join(dir, DATA_FILE),
      noSubdir: true,
      maxDbs: 4,
      // Durability: with overlappingSync (lmdb-js's default off Windows) a write promise resolves once
      // the commit is visible and the fsync follows later (`db.flushed`), so an acknowledged write
      // could be lost to a power cut. With it off, and noSync off, each commit is fsynced before its
      // promise resolves: a resolved write promise means the data is on disk.
      overlappingSync: false,
      noSync: false,
      // Transactions are formed by our own group-commit pipeline (one transaction() per batch).
      // lmdb-js's event-turn batching also leaves an internal promise that rejects unhandled when a
      // commit fails, which would crash the process exactly when it should degrade gracefully.
      eventTurnBatching: false,
      cache: false,
    });
  } catch (e) {
    throw new LmdbOpenError(`cannot open ${join(dir, DATA_FILE)}: ${message(e)}; ${REFUSE}`);
  }

  try {
    const data: LmdbData = {
      dir,
      env,
      meta: env.openDB<unknown, string>({ name: "meta" }),
      pools: env.openDB<unknown, string>({ name: "pools" }),
      tokens: env.openDB<unknown, TokenKey>({ name: "tokens" }),
    };
    checkFormat(data, fresh);
    return data;
  } catch (e) {
    void env.close();
    throw e instanceof LmdbOpenError ? e : new LmdbOpenError(`cannot read ${join(dir, DATA_FILE)}: ${message(e)}; ${REFUSE}`);
  }
}

function checkFormat(data: LmdbData, fresh: boolean): void {
  const marker: unknown = data.meta.get(FORMAT_KEY);
  const file = join(data.dir, DATA_FILE);
  if (marker === undefined) {
    // A file without a marker is only acceptable when it holds nothing (a crash during first start).
    if (!fresh && (data.pools.getCount() > 0 || data.tokens.getCount() > 0)) {
      throw new LmdbOpenError(`${file} holds data but no tokenpool format marker; ${REFUSE}`);
    }
    data.meta.putSync(FORMAT_KEY, { name: FORMAT_NAME, version: FORMAT_VERSION });
    return;
  }
  if (!isFormatMarker(marker) || marker.name !== FORMAT_NAME) {
    throw new LmdbOpenError(`${file} is not tokenpool data (unrecognised format marker); ${REFUSE}`);
  }
  if (marker.version !== FORMAT_VERSION) {
    throw new LmdbOpenError(`${file} has format version ${marker.version}; this build reads version ${FORMAT_VERSION}; ${REFUSE}`);
  }
}

// LMDB meta pages (mdb.c): a 24-byte page header whose flags (offset 18) include P_META, then the meta
// record: magic at 24, data version at 28, page size at 48. Both meta pages are checked.
const P_META = 0x08;
const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;

/**
 * lmdb-js crashes the process (SIGSEGV) when asked to open a file whose meta pages are garbage, so a
 * wrong or truncated file is caught here first. An empty file is fine: lmdb initialises it.
 */
function headerProblem(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    return message(e);
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    const page = Buffer.alloc(64);
    const meta = (offset: number): string | undefined => {
      if (readSync(fd, page, 0, page.length, offset) !== page.length) return `truncated at ${size} bytes`;
      if ((page.readUInt16LE(18) & P_META) === 0) return `no meta page at offset ${offset}`;
      if (page.readUInt32LE(24) !== MDB_MAGIC) return `bad magic at offset ${offset}`;
      if ((page.readUInt32LE(28) & 0xffff) !== MDB_DATA_VERSION) return `lmdb data version ${page.readUInt32LE(28) & 0xffff}`;
      return undefined;
    };
    const first = meta(0);
    if (first) return first;
    const pageSize = page.readUInt32LE(48);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return `bad page size ${pageSize}`;
    if (size < 2 * pageSize) return `truncated at ${size} bytes`;
    return meta(pageSize);
  } finally {
    closeSync(fd);
  }
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
