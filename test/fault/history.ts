// The history a fault run records, one JSON object per line: every call's invoke and complete, every
// lease event a watcher saw, and every fault injected. The checker (check.ts) reads nothing else.

import { createWriteStream, readFileSync, type WriteStream } from "node:fs";

export type Op = "assign" | "release" | "keepalive";

export interface Invoke {
  readonly k: "invoke";
  readonly id: number;
  /** Local wall clock, ms (the server's clock is the same machine's). */
  readonly t: number;
  readonly op: Op;
  readonly owner: string;
  /** Replica slot the call went to. */
  readonly replica: number;
  /** The client's deadline for this call, ms after t. */
  readonly deadlineMs: number;
  /** assign: the logical operation's request id (its retries share it). */
  readonly rid?: string;
  readonly waitMs?: number;
  /** release / keepalive: the lease it acts on. */
  readonly token?: string;
  readonly generation?: number;
}

export interface Complete {
  readonly k: "complete";
  readonly id: number;
  readonly t: number;
  /** "ok" or the ErrorInfo reason; "transport:<code>" when the call failed without one. */
  readonly outcome: string;
  /** A failed call's message (for reading a run, not for the checker). */
  readonly message?: string;
  readonly lease?: { readonly token: string; readonly generation: number; readonly expireMs: number };
}

export interface EventRecord {
  readonly k: "event";
  readonly seq: number;
  /** LeaseEventType name. */
  readonly type: string;
  readonly token: string;
  readonly owner: string;
  readonly generation: number;
  /** Server time of the event, ms. */
  readonly time: number;
}

export interface FaultRecord {
  readonly k: "fault";
  readonly t: number;
  readonly what:
    | "replica-kill"
    | "replica-start"
    | "redis-stop"
    | "redis-cont"
    | "redis-kill"
    | "redis-start"
    | "master-kill"
    | "master-start"
    | "master-stop"
    | "master-cont"
    | "failover"
    | "slot-move"
    | "slot-moved";
  readonly replica?: number;
  /** replica-kill: blocked assigns it had in flight. */
  readonly queued?: number;
  /** The Redis node concerned (the primary killed or stopped, the one promoted, a slot's new master). */
  readonly port?: number;
  readonly slot?: number;
  /** slot-moved: keys migrated. */
  readonly keys?: number;
  /** failover / redis-start / slot-moved: ms since the fault began. */
  readonly ms?: number;
}

export interface StartRecord {
  readonly k: "start";
  readonly t: number;
  readonly pool: string;
  readonly tokens: readonly string[];
  /** The pool's sequence when the watcher started (events after it are recorded). */
  readonly seq: number;
}

export interface EndRecord {
  readonly k: "end";
  readonly t: number;
  /** The pool's final sequence and generation, read after the run. */
  readonly seq: number;
  readonly generation: number;
}

export type HistoryRecord = Invoke | Complete | EventRecord | FaultRecord | StartRecord | EndRecord;

export class HistoryWriter {
  private readonly out: WriteStream;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
  }

  write(r: HistoryRecord): void {
    this.out.write(`${JSON.stringify(r)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
}

export function readHistory(path: string): HistoryRecord[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as HistoryRecord);
}
