// FIFO of leases issued through /issue_token, so /recycle_token can release the oldest one in
// amortised O(1). Entries whose lease already ended (expired, released by token) are skipped lazily;
// releasing with the recorded generation means a stale entry can never free someone else's lease.
// The queue lives in this process: after a restart, earlier legacy leases are reclaimed by their TTL.

import type { Store } from "../../store/store.js";

export class IssuedLeases {
  private tokens: string[] = [];
  private generations: number[] = [];
  private head = 0;

  push(token: string, generation: number): void {
    this.tokens.push(token);
    this.generations.push(generation);
  }

  /** True when a lease was released, false when none was outstanding, "error" on storage failure. */
  async releaseOldest(store: Store, pool: string): Promise<boolean | "error"> {
    while (this.head < this.tokens.length) {
      // Take the entry before awaiting, so concurrent recycles never try the same one.
      const token = this.tokens[this.head]!;
      const generation = this.generations[this.head]!;
      this.head++;
      this.compact();
      const r = await store.release(pool, token, { generation });
      if (r.ok) return true;
      if (r.error.code === "UNAVAILABLE") {
        this.push(token, generation); // still outstanding: retried by a later recycle
        return "error";
      }
    }
    return false;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.tokens.length) {
      this.tokens = this.tokens.slice(this.head);
      this.generations = this.generations.slice(this.head);
      this.head = 0;
    }
  }
}
