// The replay ring of one pool's most recent events, so a watcher can resume by sequence. Held in
// columns (typed arrays and two string arrays), not as the event objects themselves.
//
// Why columns: every renewal is an event, so a busy pool pushes hundreds of thousands of events a
// second through a ring of ~10^4. Kept as objects, each survived a scavenge or two while it was in
// the ring, was promoted, and died in the old generation: copying and full collections for data that
// is almost never read (only a resuming watcher reads it). In columns an event object lives only as
// long as its live delivery, and the ring's own memory is allocated once per pool as it fills.

import { LEASE_EVENT_TYPES, type LeaseEvent, type LeaseEventType } from "../core/types.js";

/** A type is kept as its index in the one list of them. */
const TYPE_INDEX = new Map<LeaseEventType, number>(LEASE_EVENT_TYPES.map((t, i) => [t, i]));

/** Where an optional number is absent (deadlines and waiter ids are finite when present). */
const NONE = Number.NaN;
const orNone = (n: number | undefined): number => (n === undefined ? NONE : n);
const orUndefined = (n: number): number | undefined => (Number.isNaN(n) ? undefined : n);

/** The first allocation; the columns double from there up to the ring's capacity. */
const INITIAL = 64;

// The numeric fields of an event, as offsets in its row of `num`.
const SEQUENCE = 0;
const GENERATION = 1;
const TIME = 2;
const EXPIRE = 3;
const IDLE_EXPIRE = 4;
const WAITER = 5;
const STRIDE = 6;

/** A ring of the last `capacity` events of one pool; sequences in it are contiguous. */
export class EventRing {
  /** Rows allocated so far (≤ capacity). */
  private size = 0;
  private num = new Float64Array(0);
  private type = new Uint8Array(0);
  private token: string[] = [];
  private owner: string[] = [];
  private count = 0;
  private next = 0;

  constructor(
    private readonly pool: string,
    private readonly capacity: number,
  ) {}

  push(event: LeaseEvent): void {
    if (this.count === this.size && this.size < this.capacity) this.grow();
    const i = this.next;
    const r = i * STRIDE;
    const num = this.num;
    num[r + SEQUENCE] = event.sequence;
    num[r + GENERATION] = event.generation;
    num[r + TIME] = event.time;
    num[r + EXPIRE] = orNone(event.expireTime);
    num[r + IDLE_EXPIRE] = orNone(event.idleExpireTime);
    num[r + WAITER] = orNone(event.waiterId);
    this.type[i] = TYPE_INDEX.get(event.type)!;
    this.token[i] = event.token;
    this.owner[i] = event.owner;
    this.next = (i + 1) % this.size;
    if (this.count < this.size) this.count++;
  }

  /** Sequence of the oldest retained event, or undefined when empty. */
  oldest(): number | undefined {
    return this.count === 0 ? undefined : this.num[this.row(0) * STRIDE + SEQUENCE];
  }

  /** Retained events with sequence > after, oldest first; O(k) in the number returned. */
  since(after: number): LeaseEvent[] {
    const first = this.oldest();
    if (first === undefined) return [];
    const out: LeaseEvent[] = [];
    for (let i = Math.max(0, after + 1 - first); i < this.count; i++) out.push(this.event(this.row(i)));
    return out;
  }

  /** The row of the i-th oldest retained event. */
  private row(i: number): number {
    return (this.next - this.count + i + this.size) % this.size;
  }

  private event(i: number): LeaseEvent {
    const r = i * STRIDE;
    const num = this.num;
    return {
      sequence: num[r + SEQUENCE]!,
      type: LEASE_EVENT_TYPES[this.type[i]!]!,
      pool: this.pool,
      token: this.token[i]!,
      owner: this.owner[i]!,
      generation: num[r + GENERATION]!,
      time: num[r + TIME]!,
      expireTime: orUndefined(num[r + EXPIRE]!),
      idleExpireTime: orUndefined(num[r + IDLE_EXPIRE]!),
      waiterId: orUndefined(num[r + WAITER]!),
    };
  }

  /** Called only while the ring is full and has not wrapped (next is 0), so copying keeps the order. */
  private grow(): void {
    const size = Math.min(this.capacity, Math.max(INITIAL, this.size * 2));
    const num = new Float64Array(size * STRIDE);
    num.set(this.num);
    this.num = num;
    const type = new Uint8Array(size);
    type.set(this.type);
    this.type = type;
    this.next = this.size;
    this.size = size;
  }
}
