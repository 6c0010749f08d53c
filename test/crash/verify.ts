// Holds a restarted server to what its previous life acknowledged or published: leases, releases,
// deletes and pools as acknowledged, one holder per token, generations and sequences never reissued.

import { Code } from "@connectrpc/connect";
import { LeaseEventType, TokenState } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { codeOf, plainLease, type TokenClient } from "../harness/token-client.js";
import type { AckLog } from "./workload.js";

export interface VerifyInput {
  readonly client: TokenClient;
  readonly pool: string;
  readonly log: AckLog;
  /** When the killed process was seen gone: leases with later deadlines cannot have expired before. */
  readonly exitTime: number;
}

export interface VerifyResult {
  readonly violations: string[];
  readonly tokensChecked: number;
  readonly heldChecked: number;
  readonly newGenerations: number;
}

/** What is known about one lease (token + generation) from acknowledgements and durable events. */
interface LeaseFact {
  readonly token: string;
  readonly generation: number;
  readonly owner: string;
  /** Latest deadline known to the client; the server's can only be later. */
  deadline: number;
  /** When the server granted it (expire - ttl at assign), if known. */
  grantedAt: number | undefined;
  /** Known to have ended (acknowledged release, or a RELEASED / LEASE_EXPIRED / DELETED event). */
  ended: boolean;
  /** A release was sent: it may have been applied even without an acknowledgement. */
  releaseSent: boolean;
}

export async function verifyRecovered(input: VerifyInput): Promise<VerifyResult> {
  const { client, pool, log, exitTime } = input;
  const violations: string[] = [];
  const facts = new Map<string, Map<number, LeaseFact>>();
  const fact = (token: string, generation: number, owner: string): LeaseFact => {
    let byGen = facts.get(token);
    if (!byGen) facts.set(token, (byGen = new Map()));
    let f = byGen.get(generation);
    if (!f) byGen.set(generation, (f = { token, generation, owner, deadline: -Infinity, grantedAt: undefined, ended: false, releaseSent: false }));
    return f;
  };

  for (const a of log.assigns) {
    const f = fact(a.token, a.generation, a.owner);
    f.deadline = Math.max(f.deadline, a.expireMs);
    f.grantedAt = a.expireMs - a.ttlMs;
  }
  for (const r of log.renewals) fact(r.token, r.generation, r.owner).deadline = Math.max(fact(r.token, r.generation, r.owner).deadline, r.expireMs);
  for (const r of log.releaseAttempts) {
    const f = facts.get(r.token)?.get(r.generation);
    if (f) f.releaseSent = true;
  }
  for (const r of log.releases) {
    const f = facts.get(r.token)?.get(r.generation);
    if (f) f.ended = true;
  }
  const deleted = new Set(log.deletes);
  for (const e of log.events) {
    if (e.type === LeaseEventType.ASSIGNED || e.type === LeaseEventType.RENEWED) {
      if (e.generation === 0) continue;
      const f = fact(e.token, e.generation, e.owner);
      f.deadline = Math.max(f.deadline, e.expireMs);
      if (e.type === LeaseEventType.ASSIGNED) f.grantedAt = e.timeMs;
    } else if (e.type === LeaseEventType.RELEASED || e.type === LeaseEventType.LEASE_EXPIRED || e.type === LeaseEventType.DELETED) {
      for (const f of facts.get(e.token)?.values() ?? []) if (f.generation <= e.generation || e.generation === 0) f.ended = true;
      if (e.type === LeaseEventType.DELETED) deleted.add(e.token);
    } else if (e.type === LeaseEventType.IDLE_EXPIRED) {
      deleted.add(e.token);
    }
  }

  // At most one holder at a time: a lease the client still knew valid when the next was granted,
  // with no release ever sent, means the server handed the token out twice.
  for (const [token, byGen] of facts) {
    const ordered = [...byGen.values()].sort((a, b) => a.generation - b.generation);
    for (let i = 1; i < ordered.length; i++) {
      const prev = ordered[i - 1]!;
      const next = ordered[i]!;
      if (next.grantedAt !== undefined && !prev.ended && !prev.releaseSent && prev.deadline > next.grantedAt) {
        violations.push(`two holders: ${token} gen ${prev.generation} (${prev.owner}, valid to ${prev.deadline}) and gen ${next.generation} (${next.owner}) granted at ${next.grantedAt}`);
      }
    }
  }

  const deleteSent = new Set(log.deleteAttempts);
  const tokens = new Set([...log.generated, ...facts.keys()]);
  let maxOldGeneration = 0;
  for (const byGen of facts.values()) for (const g of byGen.keys()) maxOldGeneration = Math.max(maxOldGeneration, g);
  let heldChecked = 0;
  for (const token of tokens) {
    let state: { held: boolean; owner: string; generation: number } | "missing";
    try {
      const info = await client.getToken({ pool, token });
      const lease = info.state === TokenState.HELD ? plainLease(info.lease) : undefined;
      state = { held: lease !== undefined, owner: lease?.owner ?? "", generation: lease?.generation ?? 0 };
    } catch (e) {
      if (codeOf(e) !== Code.NotFound) throw e;
      state = "missing";
    }
    if (deleted.has(token)) {
      if (state !== "missing") violations.push(`deleted token ${token} is back`);
      continue;
    }
    if (state === "missing") {
      if (!deleteSent.has(token)) violations.push(`token ${token} vanished without a delete`);
      continue;
    }
    const latest = [...(facts.get(token)?.values() ?? [])].sort((a, b) => b.generation - a.generation)[0];
    if (!latest) continue;
    if (state.held && state.generation < latest.generation) {
      violations.push(`${token} held with generation ${state.generation}, below the acknowledged ${latest.generation}`);
    }
    if (state.held && state.generation === latest.generation && state.owner !== latest.owner) {
      violations.push(`${token} generation ${latest.generation} held by ${state.owner}, acknowledged to ${latest.owner}`);
    }
    if (latest.ended && state.held && state.generation === latest.generation) {
      violations.push(`${token} generation ${latest.generation} was released or expired but is held again`);
    }
    if (!latest.ended && !latest.releaseSent && !deleteSent.has(token) && latest.deadline > exitTime) {
      heldChecked++;
      if (!state.held || state.generation !== latest.generation) {
        violations.push(`acknowledged lease lost: ${token} gen ${latest.generation} (${latest.owner}, valid to ${latest.deadline}); now ${JSON.stringify(state)}`);
      }
    }
  }

  // Pools as acknowledged.
  const deleteTried = new Set(log.poolDeleteAttempts);
  for (const name of log.poolsCreated) {
    const exists = await client.getPool({ name }).then(
      () => true,
      (e: unknown) => {
        if (codeOf(e) === Code.NotFound) return false;
        throw e;
      },
    );
    if (log.poolsDeleted.includes(name) && exists) violations.push(`deleted pool ${name} is back`);
    if (!deleteTried.has(name) && !exists) violations.push(`acknowledged pool ${name} is missing`);
  }

  // Marks: everything issued before stays below everything issued now.
  const maxSeenSequence = log.events.reduce((m, e) => Math.max(m, e.sequence), 0);
  const stats = (await client.getPool({ name: pool })).pool;
  const generationMark = Number(stats?.generation ?? 0);
  const sequenceMark = Number(stats?.sequence ?? 0);
  if (generationMark < maxOldGeneration) violations.push(`pool generation ${generationMark} below acknowledged ${maxOldGeneration}`);
  if (sequenceMark < maxSeenSequence) violations.push(`pool sequence ${sequenceMark} below watched ${maxSeenSequence}`);
  // The load may have left every token held: one fresh token makes sure at least one assign below
  // issues a generation, so the check that none is reissued always runs.
  await client.generateTokens({ pool, count: 1 });
  let newGenerations = 0;
  for (;;) {
    let generation: number;
    try {
      generation = plainLease((await client.assignToken({ pool, owner: "verifier" })).lease).generation;
    } catch (e) {
      if (codeOf(e) === Code.NotFound) break;
      throw e;
    }
    newGenerations++;
    if (generation <= maxOldGeneration || generation <= generationMark) {
      violations.push(`generation ${generation} reissued (old maximum ${Math.max(maxOldGeneration, generationMark)})`);
    }
  }
  const watch = client.watchLeases({ pool })[Symbol.asyncIterator]();
  const first = watch.next();
  await client.generateTokens({ pool, count: 1 });
  const next = await first;
  await watch.return?.();
  const newSequence = next.done || next.value.kind.case !== "event" ? 0 : Number(next.value.kind.value.sequence);
  if (newSequence <= maxSeenSequence || newSequence <= sequenceMark) {
    violations.push(`sequence ${newSequence} reissued (watched up to ${maxSeenSequence}, mark ${sequenceMark})`);
  }
  return { violations, tokensChecked: tokens.size, heldChecked, newGenerations };
}
