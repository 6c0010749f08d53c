// One pool's token ids in id order, for paging (ListTokens): a two-level sorted list (a B+tree of height
// two), so insert, delete and seeking a cursor are O(log n) plus a short in-block move, and a page is
// read in O(page) — the pool is never walked. Each id's slot sits beside it, so a page reads the token
// records without an id -> slot lookup per token.

/** Blocks split above this size; a move inside one block is a ~4 KB memmove at worst. */
const MAX_BLOCK = 512;

export class SortedIds {
  /** Non-empty sorted blocks, each entirely below the next. */
  private blocks: string[][] = [];
  /** slots[b][i] is the slot of blocks[b][i]. */
  private slots: number[][] = [];
  size = 0;

  insert(id: string, slot: number): void {
    this.size++;
    if (this.blocks.length === 0) {
      this.blocks.push([id]);
      this.slots.push([slot]);
      return;
    }
    let b = this.blockFor(id);
    if (b === this.blocks.length) b--;
    const block = this.blocks[b]!;
    const slots = this.slots[b]!;
    const i = lowerBound(block, id);
    block.splice(i, 0, id);
    slots.splice(i, 0, slot);
    if (block.length > MAX_BLOCK) {
      // Both halves as fresh exact-size arrays: splice would leave the left half in the full block's
      // backing store (spare room for ~770 elements behind ~256), a third of it used.
      const half = MAX_BLOCK >> 1;
      this.blocks.splice(b, 1, block.slice(0, half), block.slice(half));
      this.slots.splice(b, 1, slots.slice(0, half), slots.slice(half));
    }
  }

  delete(id: string): boolean {
    const b = this.blockFor(id);
    const block = this.blocks[b];
    if (!block) return false;
    const i = lowerBound(block, id);
    if (block[i] !== id) return false;
    block.splice(i, 1);
    this.slots[b]!.splice(i, 1);
    if (block.length === 0) {
      this.blocks.splice(b, 1);
      this.slots.splice(b, 1);
    }
    this.size--;
    return true;
  }

  /**
   * Calls `visit` with ids greater than `after` (all ids when undefined), in order, until it returns
   * false or the ids run out. Returns true when ids remain after the last one visited.
   */
  forEachAfter(after: string | undefined, visit: (id: string, slot: number) => boolean): boolean {
    let b = after === undefined ? 0 : this.blockFor(after);
    let i = after === undefined || b === this.blocks.length ? 0 : upperBound(this.blocks[b]!, after);
    for (; b < this.blocks.length; b++, i = 0) {
      const block = this.blocks[b]!;
      const slots = this.slots[b]!;
      for (; i < block.length; i++) {
        if (!visit(block[i]!, slots[i]!)) return i + 1 < block.length || b + 1 < this.blocks.length;
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
      const block = this.blocks[mid]!;
      if (block[block.length - 1]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function lowerBound(a: readonly string[], id: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(a: readonly string[], id: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
