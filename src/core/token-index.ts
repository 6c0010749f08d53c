// One pool's token id → slot index. The ids themselves live in the slab, so the index holds only
// slot numbers: an open-addressing table (linear probing, backward-shift deletion) in one Int32Array,
// 8-16 B per token where a Map<string, number> costs 28-56 B, and without a Map's 2^24-entry ceiling.

/** Table entries are slot + 1; 0 is an empty bucket. */
const EMPTY = 0;
const MIN_BUCKETS = 16;

export class TokenIndex {
  private table = new Int32Array(MIN_BUCKETS);
  private mask = MIN_BUCKETS - 1;
  private count = 0;

  /**
   * @param idOf the id stored for a slot (read while the slot is indexed)
   * @param seed varies the hash per process, so ids chosen to collide in one do not in another
   */
  constructor(
    private readonly idOf: (slot: number) => string,
    private readonly seed: number,
  ) {}

  get size(): number {
    return this.count;
  }

  get(id: string): number | undefined {
    const pos = this.find(id);
    return pos < 0 ? undefined : this.table[pos]! - 1;
  }

  has(id: string): boolean {
    return this.find(id) >= 0;
  }

  /** Indexes a slot under its id; the id must not be indexed already (callers check with has()). */
  set(id: string, slot: number): void {
    // Grown at half full: probe runs stay short (linear probing degrades fast past ~0.7).
    if ((this.count + 1) * 2 > this.table.length) this.resize(this.table.length * 2);
    let pos = this.hash(id) & this.mask;
    while (this.table[pos] !== EMPTY) pos = (pos + 1) & this.mask;
    this.table[pos] = slot + 1;
    this.count++;
  }

  delete(id: string): boolean {
    let hole = this.find(id);
    if (hole < 0) return false;
    // Backward shift: every later entry of the run that may move into the hole does, so lookups never
    // meet a gap inside their run and no tombstones pile up.
    const t = this.table;
    let pos = hole;
    for (;;) {
      pos = (pos + 1) & this.mask;
      const entry = t[pos]!;
      if (entry === EMPTY) break;
      const home = this.hash(this.idOf(entry - 1)) & this.mask;
      // Movable unless its home lies cyclically in (hole, pos].
      if (((pos - home) & this.mask) >= ((pos - hole) & this.mask)) {
        t[hole] = entry;
        hole = pos;
      }
    }
    t[hole] = EMPTY;
    this.count--;
    // Shrunk at an eighth full, so a pool that was large once does not keep its table forever.
    if (this.table.length > MIN_BUCKETS && this.count * 8 < this.table.length) this.resize(this.table.length / 2);
    return true;
  }

  /** Every indexed slot, in no particular order. */
  *values(): IterableIterator<number> {
    const t = this.table;
    for (let i = 0; i < t.length; i++) if (t[i] !== EMPTY) yield t[i]! - 1;
  }

  private find(id: string): number {
    const t = this.table;
    let pos = this.hash(id) & this.mask;
    for (;;) {
      const entry = t[pos]!;
      if (entry === EMPTY) return -1;
      if (this.idOf(entry - 1) === id) return pos;
      pos = (pos + 1) & this.mask;
    }
  }

  private resize(buckets: number): void {
    const old = this.table;
    this.table = new Int32Array(buckets);
    this.mask = buckets - 1;
    for (let i = 0; i < old.length; i++) {
      const entry = old[i]!;
      if (entry === EMPTY) continue;
      let pos = this.hash(this.idOf(entry - 1)) & this.mask;
      while (this.table[pos] !== EMPTY) pos = (pos + 1) & this.mask;
      this.table[pos] = entry;
    }
  }

  /** FNV-1a over the UTF-16 code units from a seeded basis, then a murmur3 finaliser for the low bits. */
  private hash(id: string): number {
    let h = (0x811c9dc5 ^ this.seed) | 0;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }
}
