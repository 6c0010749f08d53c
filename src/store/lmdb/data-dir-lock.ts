// One process per data dir: an exclusive lock file holding the owner's pid. LMDB itself lets several
// processes share an environment, but two tokenpool servers would each trust their own in-memory state.

import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";

export const LOCK_FILE = "tokenpool.lock";

export interface DataDirLock {
  release(): void;
}

interface LockOwner {
  readonly pid: number;
  /** Kernel start time of the process (Linux), so a recycled pid is not mistaken for the owner. */
  readonly start: string | undefined;
}

export class DataDirBusy extends Error {}

/** Lock files this process holds: its own pid in a lock is stale only if this process did not write it. */
const heldHere = new Set<string>();

/** Takes the lock or throws DataDirBusy; a lock left by a dead process (kill -9) is taken over. */
export function lockDataDir(dir: string): DataDirLock {
  const path = resolve(join(dir, LOCK_FILE));
  if (heldHere.has(path)) throw new DataDirBusy(`data dir ${dir} is already open in this process`);
  const me: LockOwner = { pid: process.pid, start: processStart(process.pid) };
  // Two attempts: the second follows removing a stale lock.
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx", 0o644);
    } catch (e) {
      if (!isCode(e, "EEXIST")) throw e;
      const owner = readOwner(path);
      if (owner && isAlive(owner)) {
        throw new DataDirBusy(`data dir ${dir} is in use by another tokenpool process (pid ${owner.pid}, lock file ${path})`);
      }
      // Stale (its process is gone) or unreadable (a crash while writing it): take it over.
      try {
        unlinkSync(path);
      } catch (u) {
        if (!isCode(u, "ENOENT")) throw u;
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me) + "\n");
    } finally {
      closeSync(fd);
    }
    // Two starters racing over the same stale lock can both unlink it; only the last writer's
    // content survives, so whoever does not find its own pid backs off.
    const now = readOwner(path);
    if (!now || now.pid !== me.pid) throw new DataDirBusy(`data dir ${dir} was locked concurrently by pid ${now?.pid ?? "?"}`);
    heldHere.add(path);
    return {
      release() {
        if (!heldHere.delete(path)) return;
        if (readOwner(path)?.pid === me.pid) unlinkSync(path);
      },
    };
  }
  throw new DataDirBusy(`data dir ${dir}: cannot take the lock file ${path}`);
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const { pid, start } = parsed as { pid?: unknown; start?: unknown };
    if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
    return { pid, start: typeof start === "string" ? start : undefined };
  } catch {
    return undefined;
  }
}

function isAlive(owner: LockOwner): boolean {
  // Our own pid in a lock we do not hold is a previous life (a restarted container is pid 1 again).
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    if (!isCode(e, "EPERM")) return false;
  }
  const start = processStart(owner.pid);
  return owner.start === undefined || start === undefined || start === owner.start;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined off Linux. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count fields after its last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function isCode(e: unknown, code: string): boolean {
  return e instanceof Error && "code" in e && e.code === code;
}
