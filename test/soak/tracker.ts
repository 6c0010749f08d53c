// Replays one pool's lease events as a watcher sees them and records every broken invariant: a gap
// or repeat in the sequence, a token assigned while it still has a holder, a fencing generation that
// does not grow, a release or expiry of a lease that is not the current one.

import { LeaseEventType, type LeaseEvent } from "../../gen/es/tokenpool/v1/token_service_pb.js";

interface Holder {
  readonly owner: string;
  readonly generation: bigint;
}

export class PoolTracker {
  /** Last sequence applied; undefined until the first event (a live watch starts mid-stream). */
  lastSequence: bigint | undefined;
  events = 0;
  /** Events applied, by type name (ASSIGNED, LEASE_EXPIRED, ...). */
  readonly byType: Record<string, number> = {};
  /** Every token an event has named. */
  readonly tokens = new Set<string>();
  readonly holders = new Map<string, Holder>();
  /** The first few violations, verbatim; `violationCount` counts them all. */
  readonly violations: string[] = [];
  violationCount = 0;
  private maxGeneration = 0n;

  constructor(readonly pool: string) {}

  apply(e: LeaseEvent): void {
    this.events++;
    const type = LeaseEventType[e.type] ?? String(e.type);
    this.byType[type] = (this.byType[type] ?? 0) + 1;
    if (e.token !== "") this.tokens.add(e.token);
    if (this.lastSequence !== undefined && e.sequence !== this.lastSequence + 1n) {
      this.violation(`sequence ${e.sequence} after ${this.lastSequence}`);
    }
    this.lastSequence = e.sequence;
    const held = this.holders.get(e.token);
    switch (e.type) {
      case LeaseEventType.ASSIGNED:
        if (held) this.violation(`token ${e.token} assigned to ${e.owner} (gen ${e.generation}) while held by ${held.owner} (gen ${held.generation})`);
        if (e.generation <= this.maxGeneration) this.violation(`token ${e.token} assigned with generation ${e.generation}, not above ${this.maxGeneration}`);
        this.maxGeneration = e.generation > this.maxGeneration ? e.generation : this.maxGeneration;
        this.holders.set(e.token, { owner: e.owner, generation: e.generation });
        break;
      case LeaseEventType.RENEWED:
        // A free token is renewed too (its idle deadline); a held one keeps its lease.
        if (held && e.generation !== 0n && e.generation !== held.generation) this.violation(`token ${e.token} renewed at generation ${e.generation}, held at ${held.generation}`);
        break;
      case LeaseEventType.RELEASED:
      case LeaseEventType.LEASE_EXPIRED:
        if (!held) this.violation(`token ${e.token}: ${LeaseEventType[e.type]} while free`);
        else if (e.generation !== held.generation) this.violation(`token ${e.token}: ${LeaseEventType[e.type]} of generation ${e.generation}, held at ${held.generation}`);
        this.holders.delete(e.token);
        break;
      case LeaseEventType.DELETED:
      case LeaseEventType.IDLE_EXPIRED:
        this.holders.delete(e.token);
        break;
      default:
        break; // GENERATED, WAITER_TIMED_OUT, LEASE_EXPIRING change no holder
    }
  }

  private violation(what: string): void {
    this.violationCount++;
    if (this.violations.length < 20) this.violations.push(`${this.pool}: ${what}`);
  }
}
