// One process per data dir: an exclusive lock file holding the owner's pid. LMDB itself lets several
// processes share an environment, but two tokenpool servers would each trust their own in-memory state.
// The owner counts as gone once its pid is dead, a zombie, or a different process (start time).

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
  const stat = processStat(owner.pid);
  if (stat === undefined) {
    // No /proc (off Linux): kill(pid, 0) is all there is. EPERM: it exists but belongs to someone else.
    try {
      process.kill(owner.pid, 0);
      return true;
    } catch (e) {
      return isCode(e, "EPERM");
    }
  }
  // A zombie (killed, not yet reaped by a parent that may never reap it: `sh -c` as PID 1) still
  // answers kill(pid, 0), but it has closed its files and lmdb environment: it holds nothing.
  if (stat.state === "Z" || stat.state === "X" || stat.state === "x") return false;
  return owner.start === undefined || stat.start === owner.start;
}

function processStart(pid: number): string | undefined {
  return processStat(pid)?.start;
}

/**
 * Fields 3 (state: R, S, D, Z for a zombie, X for dead...) and 22 (start time in clock ticks since
 * boot) of /proc/<pid>/stat; undefined when the process does not exist or off Linux.
 */
function processStat(pid: number): { readonly state: string; readonly start: string | undefined } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: count fields after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", start: fields[19] };
}

function isCode(e: unknown, code: string): boolean {
  return e instanceof Error && "code" in e && e.code === code;
}
