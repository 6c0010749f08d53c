// Hierarchical timing wheel over integer node ids: O(1) schedule, cancel and reschedule through
// intrusive doubly-linked slot lists, and lazy cascades whose moves count against the same budget as
// firings, so one advance() call is bounded however many timers fall due together.
//
// Level k has 64 slots of 64^k ticks. A node sits at the level of the highest base-64 digit in which
// its tick differs from the cursor's, in the slot named by that digit: every node on level 0 is due
// exactly at its slot, and a slot of level k > 0 is cascaded (its nodes re-placed lower) once the
// cursor enters the block it stands for. Occupancy bitmaps find the next busy slot in O(levels), so
// a jump of hours costs what a jump of one tick does. Nine levels span 2^54 ticks: every tick a
// double holds exactly, so there is no overflow list.
//
// Lists are circular with one sentinel per slot (entries 0..575; node n is entry 576 + n), so a
// node needs only its two links and no slot field: unlinking never has to find the list head. Entry
// e's links are links[2e] (next) and links[2e + 1] (prev): one cache line for both.
// Ticks are not stored either: the owner reports a node's due time (dueOf) when it is cascaded.

import type { TimerQueue } from "./timer-queue.js";

const SLOT_BITS = 6;
const SLOTS = 1 << SLOT_BITS;
const LEVELS = 9;
const SENTINELS = LEVELS * SLOTS;
/** POW[k] = 64^k, exact in doubles for every k used. */
const POW: readonly number[] = Array.from({ length: LEVELS + 1 }, (_, k) => 2 ** (SLOT_BITS * k));
const UNSCHEDULED = -1;
/** Ticks beyond this (2^53 - 1) are clamped: such a node sits at the top level and never comes due. */
const MAX_TICK = Number.MAX_SAFE_INTEGER;

export class TimerWheel implements TimerQueue {
  private links: Int32Array;
  /** Two 32-bit words per level: bit s set when slot s of that level is non-empty. */
  private readonly occupied = new Int32Array(LEVELS * 2);
  /** Every tick before the cursor has been processed. */
  private cursor = 0;
  /** The cursor's base-64 digits, and per level the first tick after the cursor's block. */
  private readonly digit = new Int32Array(LEVELS);
  private readonly levelEnd = new Float64Array(LEVELS);
  private count = 0;

  constructor(
    startMs: number,
    /** A scheduled node's current due time in ms (never earlier than where it was scheduled). */
    private readonly dueOf: (id: number) => number,
    readonly tickMs = 1,
    capacity = 1024,
  ) {
    if (!Number.isInteger(tickMs) || tickMs < 1) throw new RangeError("tickMs must be an integer >= 1");
    this.links = new Int32Array(2 * (SENTINELS + capacity)).fill(UNSCHEDULED);
    for (let s = 0; s < SENTINELS; s++) this.links[2 * s] = this.links[2 * s + 1] = s;
    this.setCursor(Math.max(0, Math.floor(startMs / tickMs)));
  }

  get size(): number {
    return this.count;
  }

  /** Makes node ids below `capacity` usable. */
  ensureCapacity(capacity: number): void {
    if (2 * (SENTINELS + capacity) <= this.links.length) return;
    let n = Math.max(1, this.links.length / 2 - SENTINELS);
    while (n < capacity) n *= 2;
    const links = new Int32Array(2 * (SENTINELS + n)).fill(UNSCHEDULED);
    links.set(this.links);
    this.links = links;
  }

  isScheduled(id: number): boolean {
    return this.links[2 * (SENTINELS + id)] !== UNSCHEDULED;
  }

  /** (Re)schedules a node to fire once the clock reaches `atMs`; never earlier. A past time fires next advance. */
  schedule(id: number, atMs: number): void {
    const i = SENTINELS + id;
    if (this.links[2 * i] !== UNSCHEDULED) this.unlink(i);
    else this.count++;
    this.place(i, this.ceilTick(atMs));
  }

  /** Lazy: a node already scheduled stays put and is re-armed by its owner when it fires early. */
  postpone(id: number, atMs: number): void {
    if (this.links[2 * (SENTINELS + id)] === UNSCHEDULED && atMs !== Infinity) this.schedule(id, atMs);
  }

  cancel(id: number): void {
    const i = SENTINELS + id;
    if (this.links[2 * i] === UNSCHEDULED) return;
    this.unlink(i);
    this.count--;
  }

  /**
   * Earliest time something may be due, in ms: exact for level 0, the start of the slot (a lower
   * bound) for higher levels, the cursor itself while a cascade is unfinished. O(levels).
   */
  nextDeadline(): number | undefined {
    const tick = this.nextTick();
    return tick === undefined ? undefined : tick * this.tickMs;
  }

  /**
   * Fires, in tick order, every node due at or before `nowMs`, doing at most `budget` units of work
   * (one per fired node, one per cascaded node). `fire` may schedule or cancel any node, including
   * the one being fired (it is unscheduled when fire is called).
   */
  advance(nowMs: number, budget: number, fire: (id: number, atMs: number) => void): { processed: number; more: boolean } {
    const target = Math.floor(nowMs / this.tickMs);
    let work = 0;
    let fired = 0;
    while (work < budget) {
      // A higher-level slot whose block the cursor has entered may hold nodes due before anything on
      // level 0: finish spreading it out first.
      const pending = this.pendingSlot();
      if (pending >= 0) {
        if (this.cursor > target) break;
        while (work < budget) {
          const i = this.links[2 * pending]!;
          if (i === pending) break;
          this.unlink(i);
          work++;
          // The due time may have moved later since scheduling (see postpone), even to never.
          const due = this.dueOf(i - SENTINELS);
          if (due === Infinity) this.count--;
          else this.place(i, this.ceilTick(due));
        }
        continue;
      }
      const s0 = this.firstOccupied(0, this.digit[0]!);
      if (s0 >= 0) {
        const tick = this.cursor - this.digit[0]! + s0;
        if (tick > target) {
          if (target > this.cursor) this.setCursor(target);
          break;
        }
        if (tick !== this.cursor) this.setCursor(tick);
        const atMs = tick * this.tickMs;
        while (work < budget) {
          const i = this.links[2 * s0]!;
          if (i === s0) break;
          this.unlink(i);
          this.count--;
          work++;
          fired++;
          fire(i - SENTINELS, atMs);
        }
        continue;
      }
      const start = this.higherSlotStart();
      if (start < 0 || start > target) {
        // Nothing lies between the cursor and the target, so the cursor may jump there.
        if (target > this.cursor) this.setCursor(target);
        break;
      }
      this.setCursor(start);
    }
    let more = false;
    if (work >= budget) {
      const t = this.nextTick();
      more = t !== undefined && t <= target;
    }
    return { processed: fired, more };
  }

  private nextTick(): number | undefined {
    if (this.count === 0) return undefined;
    if (this.pendingSlot() >= 0) return this.cursor;
    const s0 = this.firstOccupied(0, this.digit[0]!);
    if (s0 >= 0) return this.cursor - this.digit[0]! + s0;
    const start = this.higherSlotStart();
    return start < 0 ? undefined : start;
  }

  /** Sentinel of a level > 0 slot at the cursor's own digit that still holds nodes, or -1. */
  private pendingSlot(): number {
    for (let k = LEVELS - 1; k >= 1; k--) {
      const s = k * SLOTS + this.digit[k]!;
      if ((this.occupied[s >> 5]! & (1 << (s & 31))) !== 0) return s;
    }
    return -1;
  }

  /** Start tick of the first busy slot ahead of the cursor on levels >= 1 (level 0 being empty), or -1. */
  private higherSlotStart(): number {
    for (let k = 1; k < LEVELS; k++) {
      const s = this.firstOccupied(k, this.digit[k]! + 1);
      if (s >= 0) return this.levelEnd[k]! - POW[k + 1]! + s * POW[k]!;
    }
    return -1;
  }

  private place(i: number, tick: number): void {
    const t = tick < this.cursor ? this.cursor : tick <= MAX_TICK ? tick : MAX_TICK;
    let k = 0;
    while (t >= this.levelEnd[k]!) k++;
    // ToInt32 keeps the low 32 bits of the truncated quotient, so & 63 is the level-k digit.
    const s = k * SLOTS + ((t / POW[k]!) & (SLOTS - 1));
    const links = this.links;
    const first = links[2 * s]!;
    links[2 * i] = first;
    links[2 * i + 1] = s;
    links[2 * first + 1] = i;
    links[2 * s] = i;
    if (first === s) this.occupied[s >> 5]! |= 1 << (s & 31);
  }

  private unlink(i: number): void {
    const links = this.links;
    const p = links[2 * i + 1]!;
    const n = links[2 * i]!;
    links[2 * p] = n;
    links[2 * n + 1] = p;
    links[2 * i] = UNSCHEDULED;
    // Both neighbours are the same node only in a one-node list, and then it is the sentinel.
    if (p === n) this.occupied[p >> 5]! &= ~(1 << (p & 31));
  }

  /** First non-empty slot >= from on `level`, or -1. */
  private firstOccupied(level: number, from: number): number {
    if (from >= SLOTS) return -1;
    const w = level * 2;
    if (from < 32) {
      const lo = this.occupied[w]! & (-1 << from);
      if (lo !== 0) return 31 - Math.clz32(lo & -lo);
      from = 32;
    }
    const hi = this.occupied[w + 1]! & (-1 << (from - 32));
    return hi !== 0 ? 63 - Math.clz32(hi & -hi) : -1;
  }

  private ceilTick(ms: number): number {
    return this.tickMs === 1 ? Math.ceil(ms) : Math.ceil(ms / this.tickMs);
  }

  private setCursor(tick: number): void {
    this.cursor = tick;
    const blockStart = this.levelEnd[0]! - SLOTS;
    if (tick >= blockStart && tick < this.levelEnd[0]!) {
      // Same 64-tick block (the common step): only the lowest digit moves.
      this.digit[0] = tick - blockStart;
      return;
    }
    for (let k = 0; k < LEVELS; k++) {
      this.digit[k] = (tick / POW[k]!) & (SLOTS - 1);
      this.levelEnd[k] = k === LEVELS - 1 ? Infinity : (Math.floor(tick / POW[k + 1]!) + 1) * POW[k + 1]!;
    }
  }
}
