// The naive alternative to the timer wheel, for comparison only: a binary min-heap of (deadline, id,
// version) entries. Every reschedule, keep-alive included, pushes a new entry and leaves the old one
// to be skipped when it surfaces (lazy deletion), so the heap grows with the keep-alive rate.

import type { TimerQueue } from "../../src/core/timer-queue.js";

export class HeapTimerQueue implements TimerQueue {
  private version = new Int32Array(1024);
  private scheduled = new Uint8Array(1024);
  private deadline = new Float64Array(1024);
  private ids = new Int32Array(1024);
  private versions = new Int32Array(1024);
  private length = 0;
  size = 0;

  ensureCapacity(capacity: number): void {
    if (capacity <= this.version.length) return;
    const v = new Int32Array(capacity);
    v.set(this.version);
    this.version = v;
    const s = new Uint8Array(capacity);
    s.set(this.scheduled);
    this.scheduled = s;
  }

  schedule(id: number, atMs: number): void {
    if (!this.scheduled[id]) this.size++;
    this.scheduled[id] = 1;
    this.push(atMs, id, ++this.version[id]!);
  }

  /** The naive way: a new entry for every change of due time. */
  postpone(id: number, atMs: number): void {
    if (atMs === Infinity) this.cancel(id);
    else this.schedule(id, atMs);
  }

  cancel(id: number): void {
    if (!this.scheduled[id]) return;
    this.scheduled[id] = 0;
    this.version[id]!++;
    this.size--;
  }

  nextDeadline(): number | undefined {
    this.dropStale();
    return this.length > 0 ? this.deadline[0] : undefined;
  }

  advance(nowMs: number, budget: number, fire: (id: number, atMs: number) => void): { processed: number; more: boolean } {
    let work = 0;
    let fired = 0;
    while (work < budget && this.length > 0 && this.deadline[0]! <= nowMs) {
      const id = this.ids[0]!;
      const at = this.deadline[0]!;
      const live = this.versions[0] === this.version[id] && this.scheduled[id];
      this.pop();
      work++;
      if (live) {
        this.scheduled[id] = 0;
        this.size--;
        fired++;
        fire(id, at);
      }
    }
    return { processed: fired, more: this.length > 0 && this.deadline[0]! <= nowMs };
  }

  private dropStale(): void {
    while (this.length > 0 && !(this.versions[0] === this.version[this.ids[0]!] && this.scheduled[this.ids[0]!])) this.pop();
  }

  private push(at: number, id: number, version: number): void {
    if (this.length === this.deadline.length) this.grow();
    let i = this.length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.deadline[parent]! <= at) break;
      this.move(parent, i);
      i = parent;
    }
    this.deadline[i] = at;
    this.ids[i] = id;
    this.versions[i] = version;
  }

  private pop(): void {
    const last = --this.length;
    const at = this.deadline[last]!;
    const id = this.ids[last]!;
    const version = this.versions[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.deadline[child + 1]! < this.deadline[child]!) child++;
      if (this.deadline[child]! >= at) break;
      this.move(child, i);
      i = child;
    }
    this.deadline[i] = at;
    this.ids[i] = id;
    this.versions[i] = version;
  }

  private move(from: number, to: number): void {
    this.deadline[to] = this.deadline[from]!;
    this.ids[to] = this.ids[from]!;
    this.versions[to] = this.versions[from]!;
  }

  private grow(): void {
    const n = this.deadline.length * 2;
    const d = new Float64Array(n);
    d.set(this.deadline);
    const ids = new Int32Array(n);
    ids.set(this.ids);
    const v = new Int32Array(n);
    v.set(this.versions);
    this.deadline = d;
    this.ids = ids;
    this.versions = v;
  }
}
