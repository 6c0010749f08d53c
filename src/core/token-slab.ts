// Struct-of-arrays storage for every token (and waiter timer node) of every pool: one integer slot
// per token, typed arrays that grow by doubling, so per-token state stays small and contiguous.

/** freePos values below zero say what a slot is when it is not in its pool's free list. */
export const HELD = -1;
export const WAITER = -2;
export const VACANT = -3;

export class TokenSlab {
  /** Index of the owning pool. */
  pool = new Int32Array(0);
  /** Position in the pool's free list (>= 0), or HELD / WAITER / VACANT. */
  freePos = new Int32Array(0);
  /** Fencing generation of the current lease. */
  generation = new Float64Array(0);
  leaseExpire = new Float64Array(0);
  /** Infinity when the pool's tokens never go idle. */
  idleExpire = new Float64Array(0);
  leaseTtl = new Float64Array(0);
  readonly ids: string[] = [];
  readonly owners: string[] = [];
  private vacant = new Int32Array(0);
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
    if (this.vacantCount === this.vacant.length) this.vacant = growInt32(this.vacant, this.vacant.length * 2 || 1024);
    this.vacant[this.vacantCount++] = slot;
  }

  private grow(capacity: number): void {
    this.pool = growInt32(this.pool, capacity);
    this.freePos = growInt32(this.freePos, capacity);
    this.generation = growFloat64(this.generation, capacity);
    this.leaseExpire = growFloat64(this.leaseExpire, capacity);
    this.idleExpire = growFloat64(this.idleExpire, capacity);
    this.leaseTtl = growFloat64(this.leaseTtl, capacity);
    this.onGrow(capacity);
  }
}

export function growInt32(a: Int32Array<ArrayBuffer>, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function growFloat64(a: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}
