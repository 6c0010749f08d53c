// The naive alternative to the timer wheel, for comparison only: the same token layout with expiry
// on a binary min-heap that gets a new entry per keep-alive and skips stale entries lazily.

export class HeapExpiryPool {
  private readonly held: Uint8Array;
  private readonly version: Int32Array;
  private readonly free: Int32Array;
  private readonly freePos: Int32Array;
  private freeCount: number;
  private heapDeadline = new Float64Array(1024);
  private heapSlot = new Int32Array(1024);
  private heapVersion = new Int32Array(1024);
  private heapSize = 0;

  constructor(
    readonly size: number,
    private readonly ttlMs: number,
  ) {
    this.held = new Uint8Array(size);
    this.version = new Int32Array(size);
    this.free = new Int32Array(size);
    this.freePos = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      this.free[i] = i;
      this.freePos[i] = i;
    }
    this.freeCount = size;
  }

  assign(now: number): number {
    const slot = this.free[Math.floor(Math.random() * this.freeCount)]!;
    const pos = this.freePos[slot]!;
    const last = this.free[--this.freeCount]!;
    this.free[pos] = last;
    this.freePos[last] = pos;
    this.held[slot] = 1;
    this.push(now + this.ttlMs, slot, ++this.version[slot]!);
    return slot;
  }

  keepAlive(slot: number, now: number): void {
    // Lazy deletion: the old entry stays in the heap until it surfaces.
    this.push(now + this.ttlMs, slot, ++this.version[slot]!);
  }

  release(slot: number): void {
    this.version[slot]!++;
    this.held[slot] = 0;
    this.free[this.freeCount] = slot;
    this.freePos[slot] = this.freeCount++;
  }

  /** Pops due entries, skipping stale ones. */
  expire(now: number): number {
    let n = 0;
    while (this.heapSize > 0 && this.heapDeadline[0]! <= now) {
      const slot = this.heapSlot[0]!;
      const v = this.heapVersion[0]!;
      this.pop();
      if (v === this.version[slot] && this.held[slot]) {
        this.release(slot);
        n++;
      }
    }
    return n;
  }

  private push(deadline: number, slot: number, version: number): void {
    if (this.heapSize === this.heapDeadline.length) this.grow();
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.heapDeadline[parent]! <= deadline) break;
      this.move(parent, i);
      i = parent;
    }
    this.heapDeadline[i] = deadline;
    this.heapSlot[i] = slot;
    this.heapVersion[i] = version;
  }

  private pop(): void {
    const last = --this.heapSize;
    const d = this.heapDeadline[last]!;
    const s = this.heapSlot[last]!;
    const v = this.heapVersion[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.heapDeadline[child + 1]! < this.heapDeadline[child]!) child++;
      if (this.heapDeadline[child]! >= d) break;
      this.move(child, i);
      i = child;
    }
    this.heapDeadline[i] = d;
    this.heapSlot[i] = s;
    this.heapVersion[i] = v;
  }

  private move(from: number, to: number): void {
    this.heapDeadline[to] = this.heapDeadline[from]!;
    this.heapSlot[to] = this.heapSlot[from]!;
    this.heapVersion[to] = this.heapVersion[from]!;
  }

  private grow(): void {
    const n = this.heapDeadline.length * 2;
    const d = new Float64Array(n);
    d.set(this.heapDeadline);
    const s = new Int32Array(n);
    s.set(this.heapSlot);
    const v = new Int32Array(n);
    v.set(this.heapVersion);
    this.heapDeadline = d;
    this.heapSlot = s;
    this.heapVersion = v;
  }
}
