// Prometheus metrics: RPC and HTTP-route counts and latencies, per-pool gauges (capped), expiry
// lateness, watch streams and drops, store commit latency and the process defaults. Scraped at /metrics.

import type { Interceptor } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import type { PoolStats } from "../core/types.js";
import type { StoreObserver } from "../store/store.js";
import { codeName, observeCall } from "./call-outcome.js";

export interface PoolStatsSource {
  /** Pools to export, in name order; called at scrape time with the label cap. */
  pools(limit: number): Promise<PoolStats[]>;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly rpcTotal: Counter<"method" | "code">;
  private readonly rpcSeconds: Histogram<"method" | "code">;
  private readonly httpTotal: Counter<"route" | "status">;
  private readonly httpSeconds: Histogram<"route" | "status">;
  private readonly lateness: Histogram;
  private readonly commitSeconds: Histogram;
  private readonly watchDrops: Counter;
  private readonly exhausted: Counter<"cause">;
  private readonly orphanedWaiters: Counter;
  private readonly authFailures: Counter<"protocol">;
  private readonly authAtStream: Counter;
  private readonly streams: Gauge;

  constructor(poolSource: PoolStatsSource, options: { readonly maxPoolsLabelled: number; readonly activeStreams: () => number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "tokenpool_" });
    this.rpcTotal = new Counter({ name: "tokenpool_rpc_total", help: "RPCs handled, by method and code", labelNames: ["method", "code"], registers });
    this.rpcSeconds = new Histogram({
      name: "tokenpool_rpc_duration_seconds",
      help: "RPC latency (unary: to response; streams: to end)",
      labelNames: ["method", "code"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.httpTotal = new Counter({
      name: "tokenpool_http_requests_total",
      help: "Plain HTTP route requests (legacy API, docs, health, metrics), by route and status",
      labelNames: ["route", "status"],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: "tokenpool_http_request_duration_seconds",
      help: "Plain HTTP route latency, to the end of the response",
      labelNames: ["route", "status"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.lateness = new Histogram({
      name: "tokenpool_expiry_lateness_seconds",
      help: "Actual expiry time minus deadline, for lease and idle expiries",
      // Up to seconds: a Redis replica that died mid-reap leaves its pools to the others' next round.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.commitSeconds = new Histogram({
      name: "tokenpool_store_commit_seconds",
      help: "Storage commit latency: one lmdb group-commit transaction, or one Redis write script round trip",
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    });
    this.watchDrops = new Counter({
      name: "tokenpool_watch_dropped_total",
      help: "WatchLeases streams cut off with RESOURCE_EXHAUSTED for falling too far behind",
      registers,
    });
    this.exhausted = new Counter({
      name: "tokenpool_assign_exhausted_total",
      help:
        "AssignToken calls answered POOL_EXHAUSTED, by cause: waiters_queued (no wait_timeout, and blocked calls queued ahead take freed tokens first), " +
        "no_free_token (none free, nobody queued), wait_timeout (queued, none freed in time)",
      labelNames: ["cause"],
      registers,
    });
    this.orphanedWaiters = new Counter({
      name: "tokenpool_redis_waiters_orphaned_total",
      help: "Blocked AssignToken calls dropped from a Redis queue (by any replica) because their replica's liveness lease ran out",
      registers,
    });
    this.authFailures = new Counter({
      name: "tokenpool_auth_failures_total",
      help: "Requests rejected for missing or wrong credentials, by protocol (rpc, legacy, metrics)",
      labelNames: ["protocol"],
      registers,
    });
    this.authAtStream = new Counter({
      name: "tokenpool_auth_rejected_at_stream_total",
      help: "RPCs without valid credentials answered from their HTTP/2 stream's headers, before any per-call object was built (also in tokenpool_auth_failures_total)",
      registers,
    });
    this.streams = new Gauge({
      name: "tokenpool_watch_streams",
      help: "Open WatchLeases streams",
      registers,
      collect() {
        this.set(options.activeStreams());
      },
    });
    // A scrape collects every metric concurrently; the four pool gauges share one read of the pools.
    let inFlight: Promise<PoolStats[]> | undefined;
    const pools = (): Promise<PoolStats[]> =>
      (inFlight ??= poolSource.pools(options.maxPoolsLabelled).finally(() => {
        // Let the collects of this scrape (started together) share the read, not the next scrape.
        setImmediate(() => (inFlight = undefined));
      }));
    const poolGauge = (name: string, help: string, pick: (p: PoolStats) => number) =>
      new Gauge({
        name,
        help: `${help} (at most ${options.maxPoolsLabelled} pools labelled)`,
        labelNames: ["pool"],
        registers,
        async collect() {
          const listed = await pools();
          this.reset();
          for (const p of listed) this.set({ pool: p.name }, pick(p));
        },
      });
    poolGauge("tokenpool_pool_tokens", "Tokens in the pool", (p) => p.total);
    poolGauge("tokenpool_pool_available", "Free tokens", (p) => p.available);
    poolGauge("tokenpool_pool_held", "Held tokens", (p) => p.held);
    poolGauge("tokenpool_pool_waiters", "Blocked AssignToken calls", (p) => p.waiters);
  }

  /** Times every Connect RPC; a stream is timed to its end. */
  interceptor(): Interceptor {
    return (next) => async (req) => {
      const started = process.hrtime.bigint();
      const method = req.method.name;
      const done = (code: string): void => this.observeRpc(method, code, Number(process.hrtime.bigint() - started) / 1e9);
      return observeCall(() => next(req), {
        ok: () => done("ok"),
        failed: (e) => {
          done(errorCodeName(e));
          if (method === "AssignToken") this.observeAssignFailure(e);
          return e;
        },
      });
    };
  }

  /** One RPC answered outside the Connect interceptors (the grpc-js engine, the auth gate), with the same labels. */
  observeRpc(method: string, code: string, seconds: number): void {
    this.rpcTotal.inc({ method, code });
    this.rpcSeconds.observe({ method, code }, seconds);
  }

  /** Why an AssignToken found no token: what its ErrorInfo says (see transport/errors.ts). */
  observeAssignFailure(e: unknown): void {
    if (!(e instanceof ConnectError)) return;
    const info = e.findDetails(ErrorInfoSchema)[0];
    if (info?.reason !== "POOL_EXHAUSTED") return;
    const waiters = info.metadata.waiters;
    const cause = waiters === undefined ? "wait_timeout" : Number(waiters) > 0 ? "waiters_queued" : "no_free_token";
    this.exhausted.inc({ cause });
  }

  observeHttp(route: string, status: number, seconds: number): void {
    const labels = { route, status: String(status) };
    this.httpTotal.inc(labels);
    this.httpSeconds.observe(labels, seconds);
  }

  /** What the store reports (commits, expiry lateness), as the store's observer interface. */
  storeObserver(): StoreObserver {
    return {
      commit: (seconds) => this.commitSeconds.observe(seconds),
      // Nothing expires before its deadline; the clamp keeps a clock step from landing below zero.
      expiryLateness: (seconds) => this.lateness.observe(Math.max(0, seconds)),
      waitersOrphaned: (count) => this.orphanedWaiters.inc(count),
    };
  }

  watchDropped(): void {
    this.watchDrops.inc();
  }

  authFailed(protocol: "rpc" | "legacy" | "metrics"): void {
    this.authFailures.inc({ protocol });
  }

  authRejectedAtStream(): void {
    this.authAtStream.inc();
  }
}

function errorCodeName(e: unknown): string {
  return e instanceof ConnectError ? codeName(e.code) : "unknown";
}
