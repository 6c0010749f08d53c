// One row of the results: warm up, then one timed run with the server's CPU time and (for tokenpool)
// its RPC error count sampled around it. Every row of a run uses the same client settings.

import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import type { BodyFiles, Rpc } from "./bodies.js";
import { rpcPath } from "./bodies.js";
import { h2load, type LoadResult } from "./h2load.js";
import { scrape, type Scrape } from "./metrics-scrape.js";
import { drivePairs, grpcCallOnce, type PairProtocol } from "./pair-driver.js";
import { cpuMs } from "./server-cpu.js";
import type { Running } from "./servers.js";
import { wrk } from "./wrk.js";

export type Protocol = "grpc" | "connect-proto" | "connect-json" | "http1-get";
export type RowRpc = Rpc | "pairs" | "issue_token" | "recycle_token" | "tokens";

export interface Settings {
  readonly password: string;
  /** HTTP/2 connections, and concurrent streams on each; HTTP/1.1 gets connections × streams sockets. */
  readonly connections: number;
  readonly streams: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
}

export interface Row {
  readonly server: string;
  readonly protocol: Protocol;
  readonly rpc: RowRpc;
  readonly round: number;
  /** Calls per second (a pair counts as two calls). */
  readonly rps: number;
  /** Token renewals per call (KeepAlive), else 1. */
  readonly tokensPerCall: number;
  /** Failed calls in the timed run; undefined when the server cannot tell (gRPC on a baseline). */
  readonly errors: number | undefined;
  /**
   * Calls the server saw cancelled by their client, up to one per stream the load keeps open: those in
   * flight when h2load stopped (its -D ends the run without waiting for answers). Not failures; any
   * beyond that many are counted in `errors`.
   */
  readonly cancelledAtEnd?: number;
  /** Server CPU (user + system, all threads) per call, microseconds. */
  readonly cpuUsPerCall: number;
  readonly meanMs: number | undefined;
  /** 1-minute load average when the row ended: how busy the shared machine was. */
  readonly load1: number;
}

type Driver = (seconds: number) => Promise<LoadResult>;

const HEADERS: Record<Exclude<Protocol, "http1-get">, Record<string, string>> = {
  grpc: { "content-type": "application/grpc", te: "trailers" },
  "connect-proto": { "content-type": "application/proto", "connect-protocol-version": "1" },
  "connect-json": { "content-type": "application/json", "connect-protocol-version": "1" },
};

export class Measurer {
  constructor(
    private readonly s: Settings,
    private readonly bodies: BodyFiles,
  ) {}

  /** HTTP/2 connections each h2load row opens. */
  get connections(): number {
    return this.s.connections;
  }

  /** A unary RPC with a fixed body: h2load over HTTP/2, wrk over HTTP/1.1. */
  /** `ratePerConnection`: calls per second per connection (h2load --rps); flat out when absent. */
  async rpc(target: Running, protocol: Exclude<Protocol, "http1-get">, rpc: Rpc, round: number, tokenpool: boolean, ratePerConnection?: number): Promise<Row> {
    const url = `${target.url}${rpcPath[rpc]}`;
    const headers = { ...HEADERS[protocol], "x-api-password": this.s.password };
    const driver: Driver =
      protocol === "connect-json"
        ? (seconds) => wrk({ url, bodyFile: this.bodies.file(rpc, "json"), headers, connections: this.s.connections * this.s.streams, seconds })
        : (seconds) =>
            h2load({
              url,
              bodyFile: this.bodies.file(rpc, protocol === "grpc" ? "grpc" : "proto"),
              headers,
              connections: this.s.connections,
              streams: this.s.streams,
              seconds,
              ...(ratePerConnection !== undefined && { ratePerConnection }),
            });
    // h2load cannot read gRPC trailers: one checked call first proves the server answers this body OK.
    if (protocol === "grpc") await grpcCallOnce(target.url, rpcPath[rpc], readFileSync(this.bodies.file(rpc, "proto")), this.s.password);
    return this.row(target, protocol, rpc, round, rpc === "ka100" ? 100 : 1, tokenpool, driver);
  }

  /** AssignToken then ReleaseToken of the returned lease, in closed loops. */
  pairs(target: Running, protocol: PairProtocol, pool: string, round: number, tokenpool: boolean): Promise<Row> {
    const driver: Driver = async (seconds) => {
      const r = await drivePairs({
        url: target.url,
        protocol,
        password: this.s.password,
        pool,
        owner: "bench",
        connections: this.s.connections,
        streams: this.s.streams,
        seconds,
      });
      if (r.firstError && seconds >= this.s.seconds) process.stderr.write(`  first pair error: ${r.firstError}\n`);
      return { requests: 2 * r.pairs, errors: r.errors, rps: (2 * r.pairs) / r.seconds, meanMs: undefined };
    };
    return this.row(target, protocol, "pairs", round, 1, tokenpool, driver);
  }

  /** A legacy GET route (tokenpool's or Flask's), over HTTP/1.1. */
  get(target: Running, route: "issue_token" | "recycle_token" | "tokens", round: number): Promise<Row> {
    const driver: Driver = (seconds) =>
      wrk({ url: `${target.url}/${route}`, headers: { "x-api-password": this.s.password }, connections: this.s.connections * this.s.streams, seconds });
    return this.row(target, "http1-get", route, round, 1, false, driver);
  }

  private async row(
    target: Running,
    protocol: Protocol,
    rpc: RowRpc,
    round: number,
    tokensPerCall: number,
    tokenpool: boolean,
    driver: Driver,
  ): Promise<Row> {
    await driver(this.s.warmupSeconds);
    const before = tokenpool ? await scrape(target.url) : undefined;
    const cpu0 = cpuMs(target.pid);
    const r = await driver(this.s.seconds);
    const cpu1 = cpuMs(target.pid);
    const after = tokenpool ? await scrape(target.url) : undefined;
    // gRPC failures arrive as trailers h2load does not read: tokenpool's own counters tell.
    // Only the row's own method: watch streams cut meanwhile (the fan-out's) are not its failures.
    const method = rpc === "assign" ? "AssignToken" : "KeepAlive";
    const delta = (counts: (s: Scrape) => ReadonlyMap<string, number>): number | undefined =>
      before?.rpcErrors !== undefined && after?.rpcErrors !== undefined ? (counts(after).get(method) ?? 0) - (counts(before).get(method) ?? 0) : undefined;
    const inFlight = this.s.connections * this.s.streams;
    const cancelled = delta((s) => s.rpcCancelledByMethod) ?? 0;
    const failed = delta((s) => s.rpcErrorsByMethod);
    const serverErrors = failed === undefined ? undefined : failed + Math.max(0, cancelled - inFlight);
    const trailersUnread = protocol === "grpc" && rpc !== "pairs";
    const errors = !trailersUnread ? r.errors : tokenpool && serverErrors !== undefined ? r.errors + serverErrors : undefined;
    const cancelledAtEnd = trailersUnread && tokenpool ? Math.min(cancelled, inFlight) : undefined;
    return {
      server: target.name,
      protocol,
      rpc,
      round,
      rps: r.rps,
      tokensPerCall,
      errors,
      cancelledAtEnd,
      cpuUsPerCall: r.requests > 0 ? ((cpu1 - cpu0) * 1000) / r.requests : NaN,
      meanMs: r.meanMs,
      load1: loadavg()[0]!,
    };
  }
}
