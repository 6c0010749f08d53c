// One pool's token ids in id order, for paging (ListTokens): a two-level sorted list (a B+tree of height
// two), so insert, delete and seeking a cursor are O(log n) plus a short in-block move, and a page is
// read in O(page) — the pool is never walked. It holds token slots, ordered by the id each slot holds
// (read through idOf, as TokenIndex does): a page reads its token records without a lookup, and the
// list costs 4 bytes a token plus its blocks' spare room, not an id pointer and a slot number each
// (with arrays' growth slack, that was ~21 B a token).

/** Blocks split when full; a move inside one block is a ~2 KB memmove at worst. */
const MAX_BLOCK = 512;

export class SortedIds {
  /** Non-empty blocks of slots, each sorted by id and entirely below the next; `lengths[b]` are used. */
  private blocks: Int32Array[] = [];
  private lengths: number[] = [];
  size = 0;

  /** `idOf(slot)`: the id a slot holds, for every slot in the list (a slot is deleted before it is reused). */
  constructor(private readonly idOf: (slot: number) => string) {}

  /** Adds the slot's id (not already in the list). */
  insert(slot: number): void {
    this.size++;
    const id = this.idOf(slot);
    if (this.blocks.length === 0) {
      const first = new Int32Array(MAX_BLOCK);
      first[0] = slot;
      this.blocks.push(first);
      this.lengths.push(1);
      return;
    }
    let b = this.blockFor(id);
    if (b === this.blocks.length) b--;
    let block = this.blocks[b]!;
    let length = this.lengths[b]!;
    let i = this.lowerBound(block, length, id);
    if (length === MAX_BLOCK) {
      // Full: its upper half moves to a new block after it, and the slot goes into whichever half is its.
      const half = MAX_BLOCK >> 1;
      const upper = new Int32Array(MAX_BLOCK);
      upper.set(block.subarray(half, length));
      this.blocks.splice(b + 1, 0, upper);
      this.lengths.splice(b + 1, 0, length - half);
      this.lengths[b] = half;
      if (i > half) {
        b++;
        block = upper;
        i -= half;
      }
      length = this.lengths[b]!;
    }
    block.copyWithin(i + 1, i, length);
    block[i] = slot;
    this.lengths[b] = length + 1;
  }

  /** Removes `id` (its slot must still hold it); false when it is not in the list. */
  delete(id: string): boolean {
    const b = this.blockFor(id);
    const block = this.blocks[b];
    if (!block) return false;
    const length = this.lengths[b]!;
    const i = this.lowerBound(block, length, id);
    if (i === length || this.idOf(block[i]!) !== id) return false;
    block.copyWithin(i, i + 1, length);
    if (length === 1) {
      this.blocks.splice(b, 1);
      this.lengths.splice(b, 1);
    } else this.lengths[b] = length - 1;
    this.size--;
    return true;
  }

  /**
   * Calls `visit` with ids greater than `after` (all ids when undefined), in order, until it returns
   * false or the ids run out. Returns true when ids remain after the last one visited.
   */
  forEachAfter(after: string | undefined, visit: (id: string, slot: number) => boolean): boolean {
    let b = after === undefined ? 0 : this.blockFor(after);
    let i = after === undefined || b === this.blocks.length ? 0 : this.upperBound(this.blocks[b]!, this.lengths[b]!, after);
    for (; b < this.blocks.length; b++, i = 0) {
      const block = this.blocks[b]!;
      const length = this.lengths[b]!;
      for (; i < length; i++) {
        const slot = block[i]!;
        if (!visit(this.idOf(slot), slot)) return i + 1 < length || b + 1 < this.blocks.length;
      }
    }
    return false;
  }

  /** Index of the first block whose last id is >= `id` (blocks.length when none is). */
  private blockFor(id: string): number {
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.idOf(this.blocks[mid]![this.lengths[mid]! - 1]!) < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first index in the block whose id is >= `id`. */
  private lowerBound(block: Int32Array, length: number, id: string): number {
    let lo = 0;
    let hi = length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.idOf(block[mid]!) < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first index in the block whose id is > `id`. */
  private upperBound(block: Int32Array, length: number, id: string): number {
    let lo = 0;
    let hi = length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.idOf(block[mid]!) <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
