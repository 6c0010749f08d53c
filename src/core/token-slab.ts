// Struct-of-arrays storage for every token (and waiter timer node) of every pool: one integer slot
// per token; the numbers one operation touches sit together in one 32-byte record, so an operation
// on a cold token costs few cache misses. Arrays grow by doubling.

/** freePos values below zero say what a slot is when it is not in its pool's free list. */
export const HELD = -1;
export const WAITER = -2;
export const VACANT = -3;

/** Offsets of the per-slot Float64 record. */
export const GEN = 0;
export const LEASE_EXP = 1;
/** Infinity when the pool's tokens never go idle. */
export const IDLE_EXP = 2;
export const LEASE_TTL = 3;
const STRIDE = 4;

/** Pool indexes are stored in 16 bits: plenty of live pools, two bytes per token. */
export const MAX_POOLS = 0xffff;

export class TokenSlab {
  /** Record of slot i: num[4i + GEN | LEASE_EXP | IDLE_EXP | LEASE_TTL]. */
  num = new Float64Array(0);
  /** Index of the owning pool. */
  pool = new Uint16Array(0);
  /** Position in the pool's free list (>= 0), or HELD / WAITER / VACANT. */
  freePos = new Int32Array(0);
  ids: string[] = [];
  owners: string[] = [];
  private vacant = new Int32Array(1024);
  private vacantCount = 0;
  private used = 0;

  constructor(private readonly onGrow: (capacity: number) => void) {
    this.grow(1024);
  }

  get capacity(): number {
    return this.freePos.length;
  }

  alloc(): number {
    if (this.vacantCount > 0) return this.vacant[--this.vacantCount]!;
    if (this.used === this.capacity) this.grow(this.capacity * 2);
    return this.used++;
  }

  free(slot: number): void {
    this.freePos[slot] = VACANT;
    this.ids[slot] = "";
    this.owners[slot] = "";
    if (this.vacantCount === this.vacant.length) this.vacant = growInt32(this.vacant, this.vacant.length * 2);
    this.vacant[this.vacantCount++] = slot;
  }

  private grow(capacity: number): void {
    const num = new Float64Array(capacity * STRIDE);
    num.set(this.num);
    this.num = num;
    const pool = new Uint16Array(capacity);
    pool.set(this.pool);
    this.pool = pool;
    this.freePos = growInt32(this.freePos, capacity);
    // Sized with the typed arrays: a JS array left to grow itself keeps up to 50% spare capacity.
    this.ids = growStrings(this.ids, capacity);
    this.owners = growStrings(this.owners, capacity);
    this.onGrow(capacity);
  }
}

export function growInt32(a: Int32Array<ArrayBuffer>, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function growStrings(a: string[], n: number): string[] {
  const b = new Array<string>(n).fill("");
  for (let i = 0; i < a.length; i++) b[i] = a[i]!;
  return b;
}
