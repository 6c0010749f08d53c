// Struct-of-arrays storage for every token (and waiter timer node) of every pool: one integer slot
// per token. What one operation touches sits together: a 32-byte numeric record (generation, lease
// deadline, idle deadline, free-list position, lease TTL) and, in one JS array, the id next to the
// owner. So an operation on a cold token costs two cache misses here, not five. Arrays grow by doubling.

/** freePos values below zero say what a slot is when it is not in its pool's free list. */
export const HELD = -1;
export const WAITER = -2;
export const VACANT = -3;
/** A free token taken out of service (cordoned): not in the free list, its timer at the idle deadline. */
export const CORDONED_FREE = -4;

/** Offsets in the per-slot Float64 record. */
export const GEN = 0;
/** Lease deadline while held (Infinity otherwise); a waiter's deadline for WAITER slots. */
export const LEASE_EXP = 1;
/** Infinity when the pool's tokens never go idle. */
export const IDLE_EXP = 2;
const STRIDE = 4;
/** 32-bit offsets of the record's last 8 bytes: free-list position (Int32), lease TTL (Uint32). */
const FREE_POS = 6;
const TTL = 7;
/** Largest lease TTL kept in the record; others (and fractional ones) go to a side map. */
const MAX_RECORD_TTL = 0xffffffff;

/** Live pools are capped so a pool index never grows the record. */
export const MAX_POOLS = 0xffff;

export class TokenSlab {
  /** Record of slot i: num[4i + GEN | LEASE_EXP | IDLE_EXP]. */
  num = new Float64Array(0);
  /** The same bytes as Int32: meta[8i + 6] = free position. */
  private meta = new Int32Array(0);
  /** The same bytes as Uint32: ttl[8i + 7] = lease TTL in ms, 0 = in `ttlOverflow`. */
  private ttl = new Uint32Array(0);
  private readonly ttlOverflow = new Map<number, number>();
  /** Owning pool of each slot; read when a timer fires, so kept out of the hot record. */
  private pools = new Uint16Array(0);
  /** strs[2i] = token id, strs[2i + 1] = lease owner ("" when none); kept by reference. */
  strs: string[] = [];
  private vacant = new Int32Array(1024);
  private vacantCount = 0;
  private used = 0;
  capacity = 0;

  constructor(private readonly onGrow: (capacity: number) => void) {
    this.grow(1024);
  }

  /** Position in the pool's free list (>= 0), or HELD / WAITER / VACANT. */
  freePos(slot: number): number {
    return this.meta[slot * 8 + FREE_POS]!;
  }

  setFreePos(slot: number, pos: number): void {
    this.meta[slot * 8 + FREE_POS] = pos;
  }

  pool(slot: number): number {
    return this.pools[slot]!;
  }

  leaseTtl(slot: number): number {
    const ms = this.ttl[slot * 8 + TTL]!;
    return ms !== 0 ? ms : this.ttlOverflow.get(slot)!;
  }

  setLeaseTtl(slot: number, ms: number): void {
    if (Number.isInteger(ms) && ms > 0 && ms <= MAX_RECORD_TTL) {
      if (this.ttl[slot * 8 + TTL] === 0 && this.ttlOverflow.size !== 0) this.ttlOverflow.delete(slot);
      this.ttl[slot * 8 + TTL] = ms;
    } else {
      this.ttl[slot * 8 + TTL] = 0;
      this.ttlOverflow.set(slot, ms);
    }
  }

  id(slot: number): string {
    return this.strs[slot * 2]!;
  }

  owner(slot: number): string {
    return this.strs[slot * 2 + 1]!;
  }

  setOwner(slot: number, owner: string): void {
    this.strs[slot * 2 + 1] = owner;
  }

  alloc(pool: number, id: string): number {
    let slot: number;
    if (this.vacantCount > 0) slot = this.vacant[--this.vacantCount]!;
    else {
      if (this.used === this.capacity) this.grow(this.capacity * 2);
      slot = this.used++;
    }
    this.pools[slot] = pool;
    this.ttl[slot * 8 + TTL] = 1;
    this.strs[slot * 2] = id;
    this.strs[slot * 2 + 1] = "";
    return slot;
  }

  free(slot: number): void {
    this.meta[slot * 8 + FREE_POS] = VACANT;
    if (this.ttl[slot * 8 + TTL] === 0) this.ttlOverflow.delete(slot);
    this.strs[slot * 2] = "";
    this.strs[slot * 2 + 1] = "";
    if (this.vacantCount === this.vacant.length) this.vacant = growInt32(this.vacant, this.vacant.length * 2);
    this.vacant[this.vacantCount++] = slot;
  }

  private grow(capacity: number): void {
    const num = new Float64Array(capacity * STRIDE);
    num.set(this.num);
    this.num = num;
    this.meta = new Int32Array(num.buffer);
    this.ttl = new Uint32Array(num.buffer);
    const pools = new Uint16Array(capacity);
    pools.set(this.pools);
    this.pools = pools;
    // Sized with the typed arrays: a JS array left to grow itself keeps up to 50% spare capacity.
    const strs = new Array<string>(capacity * 2).fill("");
    for (let i = 0; i < this.strs.length; i++) strs[i] = this.strs[i]!;
    this.strs = strs;
    this.capacity = capacity;
    this.onGrow(capacity);
  }
}

export function growInt32(a: Int32Array<ArrayBuffer>, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}
