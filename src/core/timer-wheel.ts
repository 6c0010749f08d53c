// Hierarchical timing wheel over integer node ids: O(1) schedule/cancel/reschedule through intrusive
// doubly-linked slot lists, lazy cascading, and bounded advance() so a driver never stalls the loop.
//
// Levels of 256 slots; level L covers 256^(L+1) ticks. A timer due at tick d lives at the lowest level
// L where d and the cursor agree on every digit above L; its slot is d's digit at L. The cursor only
// moves to the start of the earliest occupied slot (found with per-level bitmaps), so big time jumps
// cost O(levels) rather than O(ticks).
//
// The wheel stores only links (8 bytes a node): a node's deadline lives with its owner, who passes it
// to schedule() and answers dueOf() when a cascade needs it again (they must agree while scheduled).
// A list head's `prev` holds -(slot + 2), so a node knows its slot without a field of its own;
// `prev` = -1 means unscheduled.

import type { TimerQueue } from "./timer-queue.js";

const BITS = 8;
const SLOTS = 1 << BITS;
const LEVELS = 6; // 2^48 ticks: ~8900 years at 1 ms, far beyond any TTL
const WORDS = SLOTS / 32;
const NONE = -1;
/** Slot index for timers already due when scheduled. */
const DUE_LIST = LEVELS * SLOTS;
/** `prev` of a node in no list. */
const UNSCHEDULED = -1;

const POW: readonly number[] = Array.from({ length: LEVELS + 1 }, (_, l) => SLOTS ** l);

export class TimerWheel implements TimerQueue {
  /** next of node i at 2i, prev at 2i+1 (or the head code, or UNSCHEDULED): one cache line for both. */
  private links: Int32Array;
  private readonly heads = new Int32Array(DUE_LIST + 1).fill(NONE);
  private readonly occupied = new Uint32Array(LEVELS * WORDS);
  /** Every tick <= cursor has been processed. */
  private cursor: number;
  private count = 0;

  constructor(
    startMs: number,
    /** Current deadline (ms) of a scheduled node, as last passed to schedule(). */
    private readonly dueOf: (id: number) => number,
    readonly tickMs = 1,
    capacity = 1024,
  ) {
    this.cursor = Math.floor(startMs / tickMs);
    this.links = new Int32Array(capacity * 2).fill(UNSCHEDULED);
  }

  get size(): number {
    return this.count;
  }

  /** Makes node ids < capacity usable; call before scheduling a larger id. */
  ensureCapacity(capacity: number): void {
    if (capacity * 2 <= this.links.length) return;
    let n = this.links.length;
    while (n < capacity * 2) n *= 2;
    const links = new Int32Array(n).fill(UNSCHEDULED);
    links.set(this.links);
    this.links = links;
  }

  isScheduled(id: number): boolean {
    return this.links[2 * id + 1] !== UNSCHEDULED;
  }

  /** Schedules (or moves) a node to fire once the clock reaches `atMs`; never earlier. */
  schedule(id: number, atMs: number): void {
    if (this.links[2 * id + 1] !== UNSCHEDULED) this.unlink(id);
    else this.count++;
    this.link(id, this.placement(Math.ceil(atMs / this.tickMs)));
  }

  cancel(id: number): void {
    if (this.links[2 * id + 1] === UNSCHEDULED) return;
    this.unlink(id);
    this.links[2 * id + 1] = UNSCHEDULED;
    this.count--;
  }

  /**
   * Earliest time something may be due, in ms: exact for timers in the lowest level, the start of
   * their slot (a lower bound) for higher levels. Undefined when empty.
   */
  nextDeadline(): number | undefined {
    if (this.count === 0) return undefined;
    if (this.heads[DUE_LIST] !== NONE) return this.cursor * this.tickMs;
    const tick = this.nextEventTick();
    return tick === undefined ? undefined : tick * this.tickMs;
  }

  /**
   * Fires every node due at or before `nowMs`, in due order per slot, doing at most `budget` units of
   * work (one per fired or cascaded node). `fire` may schedule or cancel nodes, including the fired one.
   */
  advance(nowMs: number, budget: number, fire: (id: number) => void): { processed: number; more: boolean } {
    const target = Math.floor(nowMs / this.tickMs);
    let work = 0;
    while (work < budget) {
      let head = this.heads[DUE_LIST]!;
      if (head !== NONE) {
        this.cancel(head);
        fire(head);
        work++;
        continue;
      }
      const tick = this.nextEventTick();
      if (tick === undefined || tick > target) {
        if (target > this.cursor) this.cursor = target;
        return { processed: work, more: false };
      }
      // Nothing is scheduled before `tick`, so the cursor may move onto it.
      if (tick > this.cursor) this.cursor = tick;
      const level = this.eventLevel;
      const slot = level * SLOTS + (Math.floor(tick / POW[level]!) % SLOTS);
      if (level === 0) {
        while (work < budget && (head = this.heads[slot]!) !== NONE) {
          this.cancel(head);
          fire(head);
          work++;
        }
      } else {
        // Cascade: re-place each timer of the slot relative to the new cursor (lower level, or due now).
        while (work < budget && (head = this.heads[slot]!) !== NONE) {
          this.unlink(head);
          this.link(head, this.placement(Math.ceil(this.dueOf(head) / this.tickMs)));
          work++;
        }
      }
    }
    const pending = this.heads[DUE_LIST] !== NONE || (this.nextEventTick() ?? Infinity) <= target;
    return { processed: work, more: pending };
  }

  /** Level of the slot found by the last nextEventTick() call. */
  private eventLevel = 0;

  /**
   * Start tick of the earliest occupied slot. A higher-level slot at the cursor's own digit only
   * exists when a budget-limited cascade stopped inside it: it is due now and goes first. Otherwise
   * levels are scanned upward, since any lower-level slot ahead of the cursor starts before any
   * higher-level one.
   */
  private nextEventTick(): number | undefined {
    for (let level = LEVELS - 1; level > 0; level--) {
      const cursorDigit = Math.floor(this.cursor / POW[level]!) % SLOTS;
      if (this.firstOccupied(level, cursorDigit) === cursorDigit) {
        this.eventLevel = level;
        return this.cursor;
      }
    }
    for (let level = 0; level < LEVELS; level++) {
      const cursorDigit = Math.floor(this.cursor / POW[level]!) % SLOTS;
      // Level 0 includes the cursor's own tick: a slot the budget stopped inside of.
      const slot = this.firstOccupied(level, level === 0 ? cursorDigit : cursorDigit + 1);
      if (slot !== NONE) {
        this.eventLevel = level;
        const blockStart = Math.floor(this.cursor / POW[level + 1]!) * POW[level + 1]!;
        return blockStart + slot * POW[level]!;
      }
    }
    return undefined;
  }

  private placement(tick: number): number {
    if (tick <= this.cursor) return DUE_LIST;
    for (let level = 0; level < LEVELS; level++) {
      if (Math.floor(tick / POW[level + 1]!) === Math.floor(this.cursor / POW[level + 1]!)) {
        return level * SLOTS + (Math.floor(tick / POW[level]!) % SLOTS);
      }
    }
    // Beyond the top level's span: park in its last slot; it cascades back down when reached.
    return (LEVELS - 1) * SLOTS + (SLOTS - 1);
  }

  private link(id: number, slot: number): void {
    const head = this.heads[slot]!;
    const code = -(slot + 2);
    this.links[2 * id] = head;
    this.links[2 * id + 1] = code;
    if (head !== NONE) this.links[2 * head + 1] = id;
    this.heads[slot] = id;
    if (slot !== DUE_LIST) this.occupied[slot >>> 5]! |= 1 << (slot & 31);
  }

  /** Takes a node out of its list (its own `prev` is left for the caller to reset or overwrite). */
  private unlink(id: number): void {
    const n = this.links[2 * id]!;
    const p = this.links[2 * id + 1]!;
    if (p >= 0) {
      this.links[2 * p] = n;
      if (n !== NONE) this.links[2 * n + 1] = p;
      return;
    }
    // The head: its successor inherits the head code.
    const slot = -p - 2;
    this.heads[slot] = n;
    if (n !== NONE) this.links[2 * n + 1] = p;
    else if (slot !== DUE_LIST) this.occupied[slot >>> 5]! &= ~(1 << (slot & 31));
  }

  /** First occupied slot index >= from within one level, or NONE. */
  private firstOccupied(level: number, from: number): number {
    if (from >= SLOTS) return NONE;
    const base = level * WORDS;
    let word = from >>> 5;
    let bits = this.occupied[base + word]! & (~0 << (from & 31));
    for (;;) {
      if (bits !== 0) return word * 32 + (31 - Math.clz32(bits & -bits));
      if (++word >= WORDS) return NONE;
      bits = this.occupied[base + word]!;
    }
  }
}
