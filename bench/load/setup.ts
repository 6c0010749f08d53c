// Prepares a tokenpool server for measurement through its own API: a large pool for AssignToken and
// pairs, and 100 known, held tokens for KeepAlive. Uses the connect-es gRPC client the crash test uses.

import { duration, tokenClient, type TokenClient } from "../../test/harness/token-client.js";
import { ASSIGN_POOL, KEEPALIVE_IDS, KEEPALIVE_POOL, OWNER } from "./bodies.js";

/** Leases outlive the bench; tokens never go idle (an idle expiry would delete them mid-run). */
const LONG = duration(3_600_000);
const NEVER = duration(0);
/** GenerateTokens' default per-call limit (--max-generate). */
const GENERATE_BATCH = 100_000;

export class PoolSetup {
  private readonly client: TokenClient;

  constructor(
    url: string,
    password: string,
    /** Tokens in the assign pool: enough for every AssignToken of the longest run. */
    private readonly assignPoolSize: number,
  ) {
    this.client = tokenClient(url, password);
  }

  async prepare(): Promise<void> {
    await this.createAssignPool();
    await this.client.createPool({ name: KEEPALIVE_POOL, leaseTtl: LONG, idleTtl: NEVER, maxTokens: KEEPALIVE_IDS.length });
    await this.client.generateTokens({ pool: KEEPALIVE_POOL, tokens: KEEPALIVE_IDS });
    // KeepAlive on held tokens extends leases (the real work), not only idle deadlines.
    for (let i = 0; i < KEEPALIVE_IDS.length; i++) await this.client.assignToken({ pool: KEEPALIVE_POOL, owner: OWNER, leaseTtl: LONG });
  }

  /** Recreates the assign pool when fewer than `needed` tokens are free, so the next run never runs dry. */
  async ensureFree(needed: number): Promise<void> {
    const { pool } = await this.client.getPool({ name: ASSIGN_POOL });
    if ((pool?.available ?? 0) >= needed) return;
    await this.client.deletePool({ name: ASSIGN_POOL });
    await this.createAssignPool();
  }

  async sequence(pool: string): Promise<number> {
    const { pool: p } = await this.client.getPool({ name: pool });
    return Number(p?.sequence ?? 0);
  }

  private async createAssignPool(): Promise<void> {
    const first = Math.min(GENERATE_BATCH, this.assignPoolSize);
    await this.client.createPool({ name: ASSIGN_POOL, leaseTtl: LONG, idleTtl: NEVER, maxTokens: this.assignPoolSize, initialTokens: first });
    for (let made = first; made < this.assignPoolSize; made += GENERATE_BATCH) {
      await this.client.generateTokens({ pool: ASSIGN_POOL, count: Math.min(GENERATE_BATCH, this.assignPoolSize - made) });
    }
  }
}
