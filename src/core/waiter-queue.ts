// FIFO of blocked assigns for one pool: an intrusive doubly-linked list so the oldest is taken and
// any one is cancelled in O(1).

export interface Waiter {
  readonly id: number;
  /** Timer node of the waiter's deadline. */
  readonly node: number;
  readonly pool: number;
  readonly owner: string;
  readonly leaseTtlMs: number | undefined;
  readonly requestId: string | undefined;
  readonly recyclable: boolean;
  /** Tokens asked for: 1 for AssignToken; a gang (AssignTokens) waits in its pool's gang queue. */
  readonly count: number;
  readonly gang: boolean;
  /** A gang at the head of the gang queue lets this many more tokens go to later requests, then keeps them. */
  overtakes: number;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

export class WaiterQueue {
  private head: Waiter | undefined;
  private tail: Waiter | undefined;
  size = 0;

  push(w: Waiter): void {
    w.prev = this.tail;
    w.next = undefined;
    if (this.tail) this.tail.next = w;
    else this.head = w;
    this.tail = w;
    this.size++;
  }

  peek(): Waiter | undefined {
    return this.head;
  }

  shift(): Waiter | undefined {
    const w = this.head;
    if (w) this.remove(w);
    return w;
  }

  remove(w: Waiter): void {
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = w.next = undefined;
    this.size--;
  }

  /** Empties the queue, oldest first (pool deletion only). */
  drain(): Waiter[] {
    const out: Waiter[] = [];
    for (let w = this.head; w; w = w.next) out.push(w);
    this.head = this.tail = undefined;
    this.size = 0;
    return out;
  }
}
