// Safety checks shared by the multi-replica tests: a client-side ledger that flags a token handed to
// a second holder while the first still holds it, and a replay of the event stream through the lease
// state machine (contiguous sequences, no ASSIGNED of a held token, generations only growing).

import { timestampMs } from "@bufbuild/protobuf/wkt";
import { LeaseEventType, type LeaseEvent } from "../../gen/es/tokenpool/v1/token_service_pb.js";

export interface SeenEvent {
  readonly sequence: number;
  readonly type: LeaseEventType;
  readonly token: string;
  readonly owner: string;
  readonly generation: number;
  readonly time: number;
  /** Local clock when the watcher received it. */
  readonly receivedAt: number;
}

export function seen(e: LeaseEvent): SeenEvent {
  return {
    sequence: Number(e.sequence),
    type: e.type,
    token: e.token,
    owner: e.owner,
    generation: Number(e.generation),
    time: e.time ? timestampMs(e.time) : 0,
    receivedAt: Date.now(),
  };
}

interface Holding {
  readonly owner: string;
  readonly generation: number;
  expireTime: number;
  /** Its holder died; the lease is expected to expire at expireTime. */
  orphaned: boolean;
}

/** What clients were told: who holds which token, from the assign reply until they send a release. */
export class HolderLedger {
  private readonly holdings = new Map<string, Holding>();
  readonly problems: string[] = [];
  /** Every lease ever acknowledged to a client. */
  readonly granted: { token: string; owner: string; generation: number }[] = [];

  acquired(token: string, owner: string, generation: number, expireTime: number): void {
    const now = Date.now();
    const current = this.holdings.get(token);
    // A few ms of slack: the server's and this process's clocks are the same machine's.
    if (current && !(current.orphaned && now + 5 >= current.expireTime)) {
      this.problems.push(`token ${token} given to ${owner} (gen ${generation}) while ${current.owner} holds gen ${current.generation}`);
    }
    this.holdings.set(token, { owner, generation, expireTime, orphaned: false });
    this.granted.push({ token, owner, generation });
  }

  renewed(token: string, owner: string, expireTime: number): void {
    const h = this.holdings.get(token);
    if (h && h.owner === owner) h.expireTime = expireTime;
  }

  /** Called before the release is sent: from then on the client no longer relies on the token. */
  releasing(token: string, owner: string): void {
    if (this.holdings.get(token)?.owner === owner) this.holdings.delete(token);
  }

  /** The owners' process died: their leases stay until they expire. Returns them. */
  orphan(owners: ReadonlySet<string>): { token: string; owner: string; generation: number; expireTime: number }[] {
    const out = [];
    for (const [token, h] of this.holdings) {
      if (!owners.has(h.owner)) continue;
      h.orphaned = true;
      out.push({ token, owner: h.owner, generation: h.generation, expireTime: h.expireTime });
    }
    return out;
  }

  /** Leases clients still hold, by token. */
  held(): Map<string, { owner: string; generation: number }> {
    const out = new Map<string, { owner: string; generation: number }>();
    for (const [token, h] of this.holdings) if (!h.orphaned) out.set(token, { owner: h.owner, generation: h.generation });
    return out;
  }
}

/**
 * Replays events (sequences after `afterSequence`) through the lease state machine, starting from
 * the given free tokens. Returns every violation found.
 */
export function checkHistory(events: readonly SeenEvent[], afterSequence: number, freeTokens: Iterable<string>): string[] {
  const problems: string[] = [];
  const state = new Map<string, { held: boolean; owner: string; generation: number }>();
  for (const t of freeTokens) state.set(t, { held: false, owner: "", generation: 0 });
  let expected = afterSequence + 1;
  let lastGeneration = 0;
  for (const e of events) {
    if (e.sequence !== expected) problems.push(`sequence ${e.sequence} where ${expected} was expected`);
    expected = e.sequence + 1;
    const s = state.get(e.token);
    const where = `seq ${e.sequence} ${LeaseEventType[e.type]} ${e.token}`;
    switch (e.type) {
      case LeaseEventType.GENERATED:
        if (s) problems.push(`${where}: token already exists`);
        state.set(e.token, { held: false, owner: "", generation: 0 });
        break;
      case LeaseEventType.ASSIGNED:
        if (!s) problems.push(`${where}: unknown token`);
        else if (s.held) problems.push(`${where}: assigned to ${e.owner} while held by ${s.owner} (gen ${s.generation})`);
        if (e.generation <= lastGeneration) problems.push(`${where}: generation ${e.generation} after ${lastGeneration}`);
        lastGeneration = Math.max(lastGeneration, e.generation);
        state.set(e.token, { held: true, owner: e.owner, generation: e.generation });
        break;
      case LeaseEventType.RELEASED:
      case LeaseEventType.LEASE_EXPIRED:
        if (!s?.held || s.generation !== e.generation) problems.push(`${where}: gen ${e.generation} was not the holder`);
        state.set(e.token, { held: false, owner: "", generation: 0 });
        break;
      case LeaseEventType.RENEWED:
        if (!s) problems.push(`${where}: unknown token`);
        else if (s.held && s.generation !== e.generation) problems.push(`${where}: renewed gen ${e.generation}, holder is ${s.generation}`);
        break;
      case LeaseEventType.IDLE_EXPIRED:
      case LeaseEventType.DELETED:
        state.delete(e.token);
        break;
      default:
        break;
    }
  }
  return problems;
}
