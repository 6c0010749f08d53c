// The offline checker of a fault run's history (history.ts): overlapping holders (by fencing
// generation), generation order, lost acknowledgements, ghost leases, and whether every call was
// answered within its deadline with a documented code. Pure: a history in, a report out.

import { LeaseEventType } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { checkHistory as checkEventStream, type SeenEvent } from "../redis/lease-checks.js";
import type { Complete, EventRecord, FaultRecord, HistoryRecord, Invoke, StartRecord } from "./history.js";

/** Answers each operation may document (README errors table); anything else is a violation. */
const DOCUMENTED: Record<Invoke["op"], readonly string[]> = {
  assign: ["ok", "POOL_EXHAUSTED", "UNAVAILABLE"],
  release: ["ok", "NOT_HELD", "LEASE_MISMATCH", "UNAVAILABLE"],
  keepalive: ["ok", "UNAVAILABLE"],
};

/** Answers that leave the outcome unknown to the caller ("may or may not have been applied"). */
const unknownOutcome = (outcome: string): boolean => outcome === "UNAVAILABLE" || outcome.startsWith("transport:");

/** Clock slack between the checker's records and the server's times (one machine, loaded). */
const SLACK_MS = 250;

export interface CheckReport {
  readonly calls: number;
  readonly outcomes: Record<string, number>;
  readonly ackedLeases: number;
  readonly ackedReleases: number;
  readonly events: number;
  readonly faults: Record<string, number>;
  /** Leases granted but not received whose caller was told the outcome was unknown (allowed). */
  readonly unreceivedAfterUnknown: number;
  readonly maxLatencyMs: Record<string, number>;
  readonly doubleHolders: string[];
  readonly generationOrder: string[];
  readonly lostAcks: string[];
  readonly ghosts: string[];
  readonly unanswered: string[];
}

export const violations = (r: CheckReport): string[] => [...r.doubleHolders, ...r.generationOrder, ...r.lostAcks, ...r.ghosts, ...r.unanswered];

interface Call {
  readonly invoke: Invoke;
  readonly complete: Complete | undefined;
}

/** One AssignToken as the caller meant it: every try with one request id. */
interface LogicalAssign {
  readonly owner: string;
  readonly tries: Call[];
}

export function checkFaultHistory(history: readonly HistoryRecord[]): CheckReport {
  const start = history.find((r): r is StartRecord => r.k === "start");
  if (!start) throw new Error("history has no start record");
  const completes = new Map<number, Complete>();
  for (const r of history) if (r.k === "complete") completes.set(r.id, r);
  const calls: Call[] = history.filter((r): r is Invoke => r.k === "invoke").map((invoke) => ({ invoke, complete: completes.get(invoke.id) }));
  const events = history.filter((r): r is EventRecord => r.k === "event");
  const faults = history.filter((r): r is FaultRecord => r.k === "fault");
  const end = history.find((r) => r.k === "end");

  const outcomes: Record<string, number> = {};
  const maxLatencyMs: Record<string, number> = {};
  const unanswered: string[] = [];
  for (const { invoke, complete } of calls) {
    const what = `call ${invoke.id} ${invoke.op} by ${invoke.owner} on replica ${invoke.replica}`;
    if (!complete) {
      unanswered.push(`${what}: never answered`);
      continue;
    }
    const key = `${invoke.op}:${complete.outcome}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    const ms = complete.t - invoke.t;
    maxLatencyMs[invoke.op] = Math.max(maxLatencyMs[invoke.op] ?? 0, ms);
    if (ms > invoke.deadlineMs + SLACK_MS) unanswered.push(`${what}: answered after ${ms} ms, deadline ${invoke.deadlineMs} ms`);
    if (complete.outcome.startsWith("transport:")) {
      // A replica killed under the call cuts it off: the only acceptable answer without a reason.
      const killed = faults.some((f) => f.what === "replica-kill" && f.replica === invoke.replica && f.t >= invoke.t - 1000 && f.t <= complete.t + SLACK_MS);
      if (!killed) unanswered.push(`${what}: ${complete.outcome} without a replica kill (deadline or undocumented failure)`);
    } else if (!DOCUMENTED[invoke.op].includes(complete.outcome)) {
      unanswered.push(`${what}: undocumented answer ${complete.outcome}`);
    }
  }

  // What clients were told they hold: one interval per lease (token, generation), from its first
  // acknowledgement to the release sent for it or the latest expiry time it was told.
  interface Held {
    token: string;
    generation: number;
    owner: string;
    from: number;
    expireMs: number;
    releasedAt: number;
  }
  const held = new Map<string, Held>();
  const leaseKey = (token: string, generation: number): string => `${token}|${generation}`;
  let ackedLeases = 0;
  let ackedReleases = 0;
  for (const { invoke, complete } of calls) {
    if (!complete || complete.outcome !== "ok" || !complete.lease) continue;
    const { token, generation, expireMs } = complete.lease;
    const k = leaseKey(token, generation);
    const h = held.get(k);
    if (invoke.op === "assign") ackedLeases++;
    if (h) {
      h.from = Math.min(h.from, complete.t);
      h.expireMs = Math.max(h.expireMs, expireMs);
    } else if (invoke.op === "assign") {
      held.set(k, { token, generation, owner: invoke.owner, from: complete.t, expireMs, releasedAt: Infinity });
    }
  }
  for (const { invoke, complete } of calls) {
    if (invoke.op !== "release" || invoke.token === undefined || invoke.generation === undefined) continue;
    const h = held.get(leaseKey(invoke.token, invoke.generation));
    if (h) h.releasedAt = Math.min(h.releasedAt, invoke.t);
    if (complete?.outcome === "ok") ackedReleases++;
  }

  const doubleHolders: string[] = [];
  const byToken = new Map<string, Held[]>();
  for (const h of held.values()) byToken.set(h.token, [...(byToken.get(h.token) ?? []), h]);
  for (const [token, hs] of byToken) {
    hs.sort((a, b) => a.from - b.from);
    let prev: Held | undefined;
    for (const h of hs) {
      if (prev) {
        const prevEnd = Math.min(prev.releasedAt, prev.expireMs);
        if (h.from + 5 < prevEnd) {
          doubleHolders.push(`token ${token}: ${h.owner} told it holds gen ${h.generation} at ${h.from} while ${prev.owner} held gen ${prev.generation} until ${prevEnd}`);
        }
        if (h.generation < prev.generation) doubleHolders.push(`token ${token}: gen ${h.generation} acknowledged after gen ${prev.generation}`);
      }
      if (!prev || Math.min(h.releasedAt, h.expireMs) > Math.min(prev.releasedAt, prev.expireMs)) prev = h;
    }
  }

  // Server view: the event stream replayed through the lease state machine (contiguous sequences, no
  // assignment of a held token, generations only growing).
  const seen: SeenEvent[] = events.map((e) => ({
    sequence: e.seq,
    type: LeaseEventType[e.type as keyof typeof LeaseEventType],
    token: e.token,
    owner: e.owner,
    generation: e.generation,
    time: e.time,
    receivedAt: e.time,
  }));
  const generationOrder = checkEventStream(seen, start.seq, start.tokens).map((p) => `event stream: ${p}`);
  if (end && (events.at(-1)?.seq ?? start.seq) !== end.seq) {
    generationOrder.push(`event stream: last event seen ${events.at(-1)?.seq ?? start.seq}, pool ended at sequence ${end.seq}`);
  }
  // Client view: a lease acknowledged before another assign was sent has a lower generation.
  const logical = new Map<string, LogicalAssign>();
  for (const c of calls) {
    if (c.invoke.op !== "assign" || c.invoke.rid === undefined) continue;
    const l = logical.get(c.invoke.rid) ?? { owner: c.invoke.owner, tries: [] };
    l.tries.push(c);
    logical.set(c.invoke.rid, l);
  }
  const acks = calls
    .filter((c) => c.invoke.op === "assign" && c.complete?.outcome === "ok" && c.complete.lease)
    .map((c) => ({ t: c.complete!.t, generation: c.complete!.lease!.generation, rid: c.invoke.rid }))
    .sort((a, b) => a.t - b.t);
  const firstTry = (rid: string | undefined): number => Math.min(...(logical.get(rid ?? "")?.tries.map((t) => t.invoke.t) ?? [Infinity]));
  const byFirstTry = acks.map((a) => ({ ...a, sent: firstTry(a.rid) })).sort((a, b) => a.sent - b.sent);
  let i = 0;
  let maxBefore = { generation: 0, rid: undefined as string | undefined };
  for (const b of byFirstTry) {
    while (i < acks.length && acks[i]!.t < b.sent) {
      if (acks[i]!.generation > maxBefore.generation) maxBefore = acks[i]!;
      i++;
    }
    if (maxBefore.generation > b.generation || (maxBefore.generation === b.generation && maxBefore.rid !== b.rid)) {
      generationOrder.push(`generation ${b.generation} (${b.rid}) acknowledged after generation ${maxBefore.generation} (${maxBefore.rid}) was acknowledged before it was asked for`);
    }
  }

  // Lost acknowledgements: every acknowledged lease and release is in the pool's history.
  const assigned = new Map<string, EventRecord>();
  const ended = new Map<string, EventRecord>();
  for (const e of events) {
    if (e.type === "ASSIGNED") assigned.set(leaseKey(e.token, e.generation), e);
    if (e.type === "RELEASED" || e.type === "LEASE_EXPIRED") ended.set(leaseKey(e.token, e.generation), e);
  }
  const lostAcks: string[] = [];
  for (const h of held.values()) {
    const e = assigned.get(leaseKey(h.token, h.generation));
    if (!e) lostAcks.push(`lease ${h.token} gen ${h.generation} acknowledged to ${h.owner}, never assigned in the event stream`);
    else if (e.owner !== h.owner) lostAcks.push(`lease ${h.token} gen ${h.generation} acknowledged to ${h.owner}, assigned to ${e.owner}`);
    if (end && h.generation > end.generation) lostAcks.push(`lease gen ${h.generation} acknowledged, pool's generation ended at ${end.generation}`);
  }
  for (const { invoke, complete } of calls) {
    if (invoke.op !== "release" || complete?.outcome !== "ok") continue;
    const e = ended.get(leaseKey(invoke.token ?? "", invoke.generation ?? 0));
    if (e?.type !== "RELEASED") lostAcks.push(`release of ${invoke.token} gen ${invoke.generation} acknowledged, no RELEASED event`);
  }

  // Ghost leases: granted, never received, and the caller was not told the outcome was unknown.
  const ghosts: string[] = [];
  let unreceivedAfterUnknown = 0;
  const received = new Set<string>();
  for (const c of calls) if (c.complete?.outcome === "ok" && c.complete.lease) received.add(leaseKey(c.complete.lease.token, c.complete.lease.generation));
  const opsOf = new Map<string, LogicalAssign[]>();
  for (const l of logical.values()) opsOf.set(l.owner, [...(opsOf.get(l.owner) ?? []), l]);
  for (const e of events) {
    if (e.type !== "ASSIGNED" || received.has(leaseKey(e.token, e.generation))) continue;
    const what = `lease ${e.token} gen ${e.generation} granted to ${e.owner} at ${e.time}`;
    const op = (opsOf.get(e.owner) ?? []).find((l) => {
      const from = Math.min(...l.tries.map((t) => t.invoke.t));
      const to = Math.max(...l.tries.map((t) => t.complete?.t ?? Infinity));
      return e.time >= from - SLACK_MS && e.time <= to + SLACK_MS;
    });
    if (!op) {
      ghosts.push(`${what}: no call of that owner was waiting for it`);
      continue;
    }
    const last = op.tries.reduce((a, b) => (a.invoke.t > b.invoke.t ? a : b));
    const hadUnknown = op.tries.some((t) => t.complete && unknownOutcome(t.complete.outcome));
    const gone = ended.get(leaseKey(e.token, e.generation));
    if (last.complete && unknownOutcome(last.complete.outcome)) {
      unreceivedAfterUnknown++; // the caller gave up not knowing: it was told it may hold it
    } else if (hadUnknown && gone && gone.time <= last.invoke.t + SLACK_MS) {
      unreceivedAfterUnknown++; // it ended before the retry that could have found it
    } else {
      ghosts.push(`${what}: its call (${last.invoke.rid}) was answered ${last.complete?.outcome ?? "nothing"} and never got it`);
    }
  }

  const faultCounts: Record<string, number> = {};
  for (const f of faults) faultCounts[f.what] = (faultCounts[f.what] ?? 0) + 1;
  return {
    calls: calls.length,
    outcomes,
    ackedLeases,
    ackedReleases,
    events: events.length,
    faults: faultCounts,
    unreceivedAfterUnknown,
    maxLatencyMs,
    doubleHolders,
    generationOrder,
    lostAcks,
    ghosts,
    unanswered,
  };
}
