// createTokenPoolClient: the generated connect-es client plus what every user needs and should not
// write: proven leases with one batched keep-alive loop per pool, idempotent acquire retries, a
// resumable watch, and a close() that gives everything back. The entry points (node.ts, browser.ts)
// bind it to their platform's transports.

import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { describeError, isTransient } from "./errors.js";
import { PoolKeeper } from "./keep-alive.js";
import { HeldLease, type Lease } from "./lease.js";
import type { Platform, Protocol } from "./platform.js";
import { backoff, linkSignals, durationMs, monotonicNow, msDuration, sleep } from "./timing.js";
import { watchPool, type WatchOptions } from "./watch.js";
import { TokenService, type LeaseEvent } from "../../gen/es/tokenpool/v1/token_service_pb.js";

export interface TokenPoolClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  readonly baseUrl: string;
  readonly password?: string | undefined;
  /** Default "connect". */
  readonly protocol?: Protocol | undefined;
  readonly httpVersion?: "1.1" | "2" | undefined;
  readonly interceptors?: readonly Interceptor[] | undefined;
  /** Use this transport instead of building one from baseUrl, password, protocol and interceptors. */
  readonly transport?: Transport | undefined;
  /** Subtracted from every proof: covers clock-rate differences and timer lateness. Default max(250 ms, TTL/10). */
  readonly safetyMarginMs?: number | undefined;
  /** Renew every this fraction of (TTL − margin) of the shortest lease in a pool. Default 1/3. */
  readonly renewFraction?: number | undefined;
  /** Timeout of unary calls (an assign's wait is added to it). Default 10 s. */
  readonly callTimeoutMs?: number | undefined;
  /** Attempts of an assign whose answer was lost (same request id each time). Default 5. */
  readonly acquireAttempts?: number | undefined;
}

export interface AcquireOptions {
  readonly owner: string;
  /** How long the server may queue the request for a free token. Default 0: fail with POOL_EXHAUSTED. */
  readonly waitTimeoutMs?: number | undefined;
  /** Default: the pool's lease TTL. */
  readonly leaseTtlMs?: number | undefined;
  /** Makes the assign idempotent; every retry sends the same one. Default: a fresh UUID. */
  readonly requestId?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface TokenPoolClient extends AsyncDisposable {
  /** The generated client (password and protocol applied) for every other call. */
  readonly service: Client<typeof TokenService>;
  acquire(pool: string, options: AcquireOptions): Promise<Lease>;
  watch(pool: string, options?: WatchOptions): AsyncIterable<LeaseEvent>;
  /** Leases this client holds and still proves. */
  leases(): Lease[];
  /** Ends every lease (signal first, then a fenced release, best effort), stops every timer and watch. */
  close(): Promise<void>;
}

const defaultMargin = (ttlMs: number): number => Math.max(250, ttlMs / 10);

export function createTokenPoolClientOn(platform: Platform, o: TokenPoolClientOptions): TokenPoolClient {
  const transport = o.transport ?? platform.createTransport({ baseUrl: o.baseUrl, password: o.password, protocol: o.protocol ?? "connect", httpVersion: o.httpVersion, interceptors: o.interceptors });
  const service = createClient(TokenService, transport);
  const callTimeoutMs = o.callTimeoutMs ?? 10_000;
  const closing = new AbortController();
  platform.allowManyListeners(closing.signal);
  const keepers = new Map<string, PoolKeeper>();
  const releases = new Set<Promise<void>>();

  const keepAlive = (pool: string, tokens: string[], timeoutMs: number) => service.keepAlive({ pool, tokens }, { timeoutMs, signal: closing.signal });

  const keeperOf = (pool: string): PoolKeeper => {
    let k = keepers.get(pool);
    if (!k) keepers.set(pool, (k = new PoolKeeper(pool, keepAlive, o.renewFraction ?? 1 / 3)));
    return k;
  };

  const releaseRemote = async (lease: HeldLease): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await service.releaseToken({ pool: lease.pool, token: lease.token, generation: lease.generation, owner: lease.owner }, { timeoutMs: callTimeoutMs });
        return;
      } catch (e) {
        // Fenced by generation and owner: "not held" or "mismatch" means it is not ours any more.
        if (["NOT_HELD", "LEASE_MISMATCH", "TOKEN_NOT_FOUND", "POOL_NOT_FOUND"].includes(describeError(e).reason)) return;
        if (!isTransient(e) || attempt >= 2) throw e;
        await sleep(backoff(attempt, 100, 1000));
      }
    }
  };

  const hooks = {
    onEnd(lease: HeldLease, kind: string) {
      keepers.get(lease.pool)?.remove(lease);
      // An unproven lease may still be held on the server; a fenced release frees it for others sooner.
      if (kind === "unproven") {
        const p = releaseRemote(lease).catch(() => undefined);
        releases.add(p);
        void p.finally(() => releases.delete(p));
      }
    },
    releaseRemote,
  };

  async function acquire(pool: string, a: AcquireOptions): Promise<Lease> {
    if (closing.signal.aborted) throw new Error("client is closed");
    const linked = a.signal ? linkSignals(a.signal, closing.signal) : undefined;
    try {
      return await assignWithRetries(pool, a, linked?.signal ?? closing.signal);
    } finally {
      linked?.unlink();
    }
  }

  async function assignWithRetries(pool: string, a: AcquireOptions, signal: AbortSignal): Promise<Lease> {
    const requestId = a.requestId ?? globalThis.crypto.randomUUID();
    // The lease starts no earlier than the first send: proving from there is conservative, retries included.
    const firstSentAt = monotonicNow();
    const attempts = o.acquireAttempts ?? 5;
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      try {
        const res = await service.assignToken(
          {
            pool,
            owner: a.owner,
            requestId,
            leaseTtl: a.leaseTtlMs ? msDuration(a.leaseTtlMs) : undefined,
            waitTimeout: a.waitTimeoutMs ? msDuration(a.waitTimeoutMs) : undefined,
          },
          { signal, timeoutMs: callTimeoutMs + (a.waitTimeoutMs ?? 0) },
        );
        const message = res.lease;
        if (!message) throw new Error("AssignToken answered without a lease");
        const ttlMs = durationMs(message.leaseTtl) || a.leaseTtlMs || 0;
        const marginMs = o.safetyMarginMs ?? defaultMargin(ttlMs);
        let provenFrom = firstSentAt;
        // After a long wait (or retries) the assign's send time proves little; a renewal sent now proves more.
        if (monotonicNow() - firstSentAt > (ttlMs - marginMs) / 3) {
          const sentAt = monotonicNow();
          const r = await keepAlive(pool, [message.token], callTimeoutMs).catch(() => undefined);
          const renewed = r?.results[0]?.lease;
          if (renewed && renewed.generation === message.generation && renewed.owner === message.owner) provenFrom = sentAt;
        }
        const lease = new HeldLease(message, ttlMs, marginMs, provenFrom, hooks);
        if (lease.isValid()) keeperOf(pool).add(lease);
        return lease;
      } catch (e) {
        if (signal.aborted || !isTransient(e) || attempt + 1 >= attempts) throw e;
        await sleep(backoff(attempt, 100, 2_000), signal);
      }
    }
  }

  async function close(): Promise<void> {
    if (!closing.signal.aborted) {
      const held = [...keepers.values()].flatMap((k) => (k.stop(), k.held()));
      closing.abort(new Error("client closed"));
      await Promise.allSettled(held.map((l) => l.release()));
    }
    await Promise.allSettled([...releases]);
  }

  return {
    service,
    acquire,
    watch: (pool, options = {}) => watchPool(service, pool, options, closing.signal),
    leases: () => [...keepers.values()].flatMap((k) => k.held()),
    close,
    [Symbol.asyncDispose]: close,
  };
}
