// Concurrent clients hammering one pool, churning pools and watching events; they log every
// acknowledged operation, and every attempt whose outcome is unknown, for the post-crash checks.

import { Code } from "@connectrpc/connect";
import { LeaseEventType } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { codeOf, duration, ms, plainLease, tokenClient, type PlainLease, type TokenClient } from "../harness/token-client.js";
import { sleep } from "../harness/sleep.js";

/** A lease event seen by a watcher: the server publishes only committed events, so each is a durable fact. */
export interface SeenEvent {
  readonly sequence: number;
  readonly type: LeaseEventType;
  readonly token: string;
  readonly owner: string;
  readonly generation: number;
  readonly timeMs: number;
  readonly expireMs: number;
}

export interface AckLog {
  readonly assigns: PlainLease[];
  /** Leases returned by acknowledged keep-alives (the generation is the server's, not the caller's guess). */
  readonly renewals: PlainLease[];
  readonly releases: { token: string; generation: number }[];
  /** Every release sent, acknowledged or not: any of them may have been applied. */
  readonly releaseAttempts: { token: string; generation: number }[];
  readonly deletes: string[];
  readonly deleteAttempts: string[];
  readonly generated: string[];
  readonly poolsCreated: string[];
  readonly poolsDeleted: string[];
  readonly poolDeleteAttempts: string[];
  readonly events: SeenEvent[];
  acked: number;
  failed: number;
}

export function emptyLog(): AckLog {
  return {
    assigns: [],
    renewals: [],
    releases: [],
    releaseAttempts: [],
    deletes: [],
    deleteAttempts: [],
    generated: [],
    poolsCreated: [],
    poolsDeleted: [],
    poolDeleteAttempts: [],
    events: [],
    acked: 0,
    failed: 0,
  };
}

export interface WorkloadOptions {
  readonly url: string;
  readonly password: string;
  readonly pool: string;
  /** Prefix for pools the churn client creates and deletes. */
  readonly churnPrefix: string;
  readonly workers: number;
  /** Separate HTTP/2 connections the workers are spread over. */
  readonly connections: number;
}

export interface RunningWorkload {
  /** Stops every client loop; resolves when they have all returned. */
  stop(): Promise<void>;
}

const LEASE_TTLS = [400, 1500, 30_000];
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

export function startWorkload(options: WorkloadOptions, log: AckLog): RunningWorkload {
  const clients = Array.from({ length: options.connections }, () => tokenClient(options.url, options.password));
  const abort = new AbortController();
  const { pool } = options;
  let stopped = false;

  const failed = async (e: unknown): Promise<void> => {
    if (stopped) return;
    if (codeOf(e) !== Code.NotFound) log.failed++;
    await sleep(5);
  };

  const release = async (c: TokenClient, lease: PlainLease): Promise<void> => {
    log.releaseAttempts.push({ token: lease.token, generation: lease.generation });
    await c.releaseToken({ pool, token: lease.token, generation: BigInt(lease.generation) });
    log.releases.push({ token: lease.token, generation: lease.generation });
    log.acked++;
  };

  const worker = async (c: TokenClient, owner: string): Promise<void> => {
    while (!stopped) {
      try {
        const assigned = await c.assignToken({ pool, owner, leaseTtl: duration(pick(LEASE_TTLS)) });
        const lease = plainLease(assigned.lease);
        log.assigns.push(lease);
        log.acked++;
        const action = Math.random();
        if (action < 0.45) {
          await release(c, lease);
        } else if (action < 0.65) {
          const renewed = await c.keepAlive({ pool, tokens: [lease.token] });
          for (const r of renewed.results) if (r.lease) log.renewals.push(plainLease(r.lease));
          log.acked++;
          if (Math.random() < 0.5) await release(c, lease);
        } else if (action < 0.72) {
          log.deleteAttempts.push(lease.token);
          await c.deleteToken({ pool, token: lease.token });
          log.deletes.push(lease.token);
          log.acked++;
        }
        // Otherwise the lease is abandoned and expires by itself.
      } catch (e) {
        await failed(e);
      }
    }
  };

  const generator = async (c: TokenClient): Promise<void> => {
    while (!stopped) {
      try {
        const made = await c.generateTokens({ pool, count: 3 });
        log.generated.push(...made.tokens);
        log.acked++;
      } catch (e) {
        await failed(e);
      }
      await sleep(15);
    }
  };

  const churn = async (c: TokenClient): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const name = `${options.churnPrefix}-${i}`;
      try {
        await c.createPool({ name, initialTokens: 2 });
        log.poolsCreated.push(name);
        log.acked++;
        if (Math.random() < 0.5) {
          log.poolDeleteAttempts.push(name);
          await c.deletePool({ name });
          log.poolsDeleted.push(name);
          log.acked++;
        }
      } catch (e) {
        await failed(e);
      }
    }
  };

  const watcher = async (c: TokenClient): Promise<void> => {
    try {
      for await (const res of c.watchLeases({ pool }, { signal: abort.signal })) {
        if (res.kind.case !== "event") continue;
        const e = res.kind.value;
        log.events.push({
          sequence: Number(e.sequence),
          type: e.type,
          token: e.token,
          owner: e.owner,
          generation: Number(e.generation),
          timeMs: ms(e.time),
          expireMs: ms(e.expireTime),
        });
      }
    } catch {
      // The stream ends when the server dies.
    }
  };

  const loops = [
    ...Array.from({ length: options.workers }, (_, i) => worker(clients[i % clients.length]!, `worker-${i}`)),
    generator(clients[0]!),
    churn(clients[clients.length - 1]!),
    watcher(clients[0]!),
  ];
  return {
    async stop() {
      stopped = true;
      abort.abort();
      await Promise.all(loops);
    },
  };
}
