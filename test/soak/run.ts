// One soak run: a server child process (lmdb in a temp dir by default), the mixed load and the
// bad-input share for the given time, /metrics sampled throughout, then the load stops, leases run
// out, and the final invariant check and the verdict. Used by scripts/soak.ts and its CI test.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TokenState } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { startServer, type ServerProcess } from "../harness/server-process.js";
import { startBadInput, type BadInputStats } from "./bad-input.js";
import { client, createPools, outcomeOf, POOLS, startLoad, type TokenClient } from "./load.js";
import { quantile } from "../harness/stats.js";
import { postGcTrend, scrape, type Sample, type Trend } from "./sampler.js";
import type { PoolTracker } from "./tracker.js";
import { sleep } from "../harness/sleep.js";

export type StoreChoice = "lmdb" | "memory" | "redis";

export interface SoakOptions {
  readonly durationMs: number;
  readonly store?: StoreChoice;
  /** For --store redis. */
  readonly redisUrl?: string;
  readonly workers?: number;
  /** Pause between one client's operations. */
  readonly thinkMs?: number;
  /** /metrics scrape interval (default 0.5 s: a sample lands soon after each major GC). */
  readonly sampleEveryMs?: number;
  /** The fuzzed bad-input share (default on; off only to tell its effects from the rest). */
  readonly badInput?: boolean;
  /** Progress lines (stderr in the CLI). */
  readonly progress?: (line: string) => void;
}

/** A point of the run: what the server reported and how many calls the clients had made by then. */
export interface Point extends Sample {
  readonly calls: number;
}

export interface SoakReport {
  readonly durationS: number;
  readonly store: StoreChoice;
  readonly workers: number;
  readonly samples: readonly Point[];
  /** Client-side calls per second over the load phase (RPCs, legacy requests, bad inputs). */
  readonly callsPerSecond: number;
  /** Server-side RPCs finished per second over the load phase. */
  readonly serverRpcPerSecond: number;
  /** operation → outcome → count */
  readonly calls: Record<string, Record<string, number>>;
  /** Non-ok outcomes summed over operations (ok, HTTP 200 and streams the client dropped left out). */
  readonly errorsByCode: Record<string, number>;
  readonly unexpected: { readonly count: number; readonly first: readonly string[] };
  readonly watch: {
    readonly events: number;
    readonly byType: Record<string, number>;
    readonly resumes: number;
    readonly churned: number;
    readonly violations: number;
    readonly firstViolations: readonly string[];
  };
  readonly badInput: BadInputStats;
  readonly memory: {
    readonly rssStart: number;
    readonly rssMid: number;
    readonly rssEnd: number;
    readonly heapStart: number;
    readonly heapMid: number;
    readonly heapEnd: number;
    /** Undefined: too few major GCs in the second half to tell (runs well under a minute). */
    readonly rssTrend: Trend | undefined;
    readonly heapTrend: Trend | undefined;
    readonly rssPeak: number;
  };
  readonly lagP99: { readonly medianS: number; readonly maxS: number };
  readonly finalCheck: {
    readonly poolsChecked: number;
    readonly tokensChecked: number;
    /** Tokens in all pools at the end: state the fuzzer's creations add, which memory carries legitimately. */
    readonly tokensInAllPools: number;
    readonly problems: readonly string[];
  };
  readonly serverExit: number | null;
  /** The server's stderr, last 2 KB: where an uncaught crash leaves its stack. */
  readonly serverStderrTail: string;
  /** Warn-or-worse lines the server logged, by message, and the first few verbatim. */
  readonly serverLog: { readonly warnOrWorse: Record<string, number>; readonly first: readonly string[] };
  readonly verdict: { readonly pass: boolean; readonly failures: readonly string[] };
}

const MiB = 1024 * 1024;
/** Allowed growth of the post-GC heap across the second half: a little for short runs, then per minute. */
const HEAP_ALLOWANCE = { bytes: 8 * MiB, perMinute: 1 * MiB };
/** RSS also carries allocator and buffer-pool slack, so it gets more room. */
const RSS_ALLOWANCE = { bytes: 32 * MiB, perMinute: 4 * MiB };
/**
 * Memory keeps rising through the first minutes without any leak: each pool's event ring fills up to
 * its retained size, lmdb's memory map counts each data-file page once first touched, and malloc's
 * arenas grow to the working set. Over a 30 s run the post-GC trend is warm-up and noise (seen: +12 MiB
 * heap, or +60 MiB RSS with a falling heap, in the second half of clean runs), so trends are judged on
 * runs this long; shorter ones report them and are held to the ceiling.
 */
export const TREND_MIN_RUN_S = 300;
/**
 * A runaway guard, not a leak test (the post-GC trend is): the server idles at ~120 MiB and runs the
 * soak at ~300, but V8, with a heap limit of several GiB on a large machine, may let garbage pile up
 * for a while before a late mark-compact (seen once: 534 MiB, back to 310 right after).
 */
const RSS_CEILING = 1024 * MiB;
/** A typical scrape interval whose p99 event-loop delay is beyond this means the server is not keeping up. */
const LAG_P99_MEDIAN_LIMIT_S = 0.25;
/** The server's limits for this run, shared with the fuzzer so its oversized inputs stay small. */
const MAX_REQUEST_BYTES = 64 * 1024;
const MAX_BATCH_TOKENS = 1_000;
const LEGACY_LEASE_S = 2;


export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const store = options.store ?? "lmdb";
  const workers = options.workers ?? 12;
  const progress = options.progress ?? (() => undefined);
  const sampleEveryMs = options.sampleEveryMs ?? 500;
  const password = randomBytes(18).toString("base64url");
  const dir = store === "lmdb" ? mkdtempSync(join(tmpdir(), "tokenpool-soak-")) : undefined;
  const args = [
    "--store", store,
    ...(dir ? ["--data-dir", dir] : []),
    ...(store === "redis" ? ["--redis-url", options.redisUrl ?? "redis://127.0.0.1:6379"] : []),
    "--total-tokens", "4",
    "--legacy-lease-ttl", String(LEGACY_LEASE_S),
    "--max-request-bytes", String(MAX_REQUEST_BYTES),
    "--max-batch", String(MAX_BATCH_TOKENS),
    "--shutdown-grace", "2",
    "--log-level", "info",
  ];
  let server: ServerProcess | undefined;
  // Whatever happens to this process, the server child and the data dir go with it.
  const cleanUp = (): void => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", cleanUp);
  try {
    // In the environment, as operators are told to: on the command line it would show in `ps`, and a
    // generated one starting with "-" read as an option ("--api-password -x" is ambiguous).
    server = await startServer(args, 60_000, { API_PASSWORD: password });
    const { url } = server;
    let crashed = false;
    void server.exited.then(() => (crashed = true));
    const admin = client(url, password, "grpc");
    await createPools(admin);

    const load = await startLoad({ baseUrl: url, password, workers, thinkMs: options.thinkMs ?? 5 });
    const badInput = startBadInput({ baseUrl: url, password, maxRequestBytes: MAX_REQUEST_BYTES, maxBatchTokens: MAX_BATCH_TOKENS, enabled: options.badInput ?? true });
    const startedAt = Date.now();
    const calls = (): number => load.tally.total() + badInput.stats.inputs;
    const samples: Point[] = [{ ...(await scrape(url, startedAt)), calls: calls() }];
    const sampleFailures: string[] = [];
    let lastProgress = 0;
    while (Date.now() - startedAt < options.durationMs && !crashed) {
      await sleep(Math.min(sampleEveryMs, options.durationMs - (Date.now() - startedAt)));
      try {
        const s = { ...(await scrape(url, startedAt)), calls: calls() };
        samples.push(s);
        if (s.t - lastProgress >= Math.max(10, options.durationMs / 1000 / 20)) {
          lastProgress = s.t;
          const prev = samples[Math.max(0, samples.length - 2)]!;
          progress(
            `t=${s.t.toFixed(0)}s calls/s=${((s.calls - prev.calls) / Math.max(0.001, s.t - prev.t)).toFixed(0)} ` +
              `rss=${(s.rssBytes / MiB).toFixed(0)}MiB heap=${(s.heapUsedBytes / MiB).toFixed(0)}MiB lag.p99=${(s.lagP99Seconds * 1000).toFixed(1)}ms ` +
              `unexpected=${load.tally.unexpected} watch.violations=${load.allTrackers.reduce((n, t) => n + t.violationCount, 0)} bad-input=${badInput.stats.inputs}`,
          );
        }
      } catch (e) {
        sampleFailures.push(`t=${((Date.now() - startedAt) / 1000).toFixed(0)}s: ${String(e)}`);
      }
    }
    const loadSeconds = (Date.now() - startedAt) / 1000;
    const last = samples[samples.length - 1]!;
    const callsPerSecond = calls() / loadSeconds;
    const serverRpcPerSecond = (last.rpcTotal - samples[0]!.rpcTotal) / Math.max(0.001, last.t - samples[0]!.t);

    progress("stopping the load; waiting for the last leases to run out");
    await Promise.all([load.stopTraffic(), badInput.stop()]);
    const finalCheck = crashed
      ? { poolsChecked: 0, tokensChecked: 0, tokensInAllPools: 0, problems: ["server exited during the run"] }
      : await checkFinal(admin, load.trackers);
    await load.stopWatchers();

    const serverExit = crashed ? server.child.exitCode : await server.stop();
    const serverLog = warnings(server.stderr());
    const trackers = load.allTrackers;
    const byType: Record<string, number> = {};
    for (const t of trackers) for (const [k, n] of Object.entries(t.byType)) byType[k] = (byType[k] ?? 0) + n;
    const errorsByCode: Record<string, number> = {};
    for (const [k, n] of Object.entries(load.tally.byOutcome())) if (k !== "ok" && k !== "200" && k !== "dropped") errorsByCode[k] = n;
    const mid = samples[Math.floor(samples.length / 2)]!;
    const lagP99s = samples.slice(1).map((s) => s.lagP99Seconds);
    const report: Omit<SoakReport, "verdict"> = {
      durationS: loadSeconds,
      store,
      workers,
      samples,
      callsPerSecond,
      serverRpcPerSecond,
      calls: load.tally.counts,
      errorsByCode,
      unexpected: { count: load.tally.unexpected, first: load.tally.firstUnexpected },
      watch: {
        events: load.watch.events(),
        byType,
        resumes: load.watch.resumes,
        churned: load.watch.churned,
        violations: trackers.reduce((n, t) => n + t.violationCount, 0),
        firstViolations: trackers.flatMap((t) => t.violations).slice(0, 20),
      },
      badInput: badInput.stats,
      memory: {
        rssStart: samples[0]!.rssBytes,
        rssMid: mid.rssBytes,
        rssEnd: last.rssBytes,
        heapStart: samples[0]!.heapUsedBytes,
        heapMid: mid.heapUsedBytes,
        heapEnd: last.heapUsedBytes,
        rssTrend: postGcTrend(samples, (s) => s.rssBytes),
        heapTrend: postGcTrend(samples, (s) => s.heapUsedBytes),
        rssPeak: Math.max(...samples.map((s) => s.rssBytes)),
      },
      lagP99: { medianS: quantile(lagP99s, 0.5), maxS: Math.max(...lagP99s) },
      finalCheck,
      serverExit,
      serverStderrTail: server.stderr().slice(-2048),
      serverLog,
    };
    return { ...report, verdict: judge(report, sampleFailures) };
  } finally {
    cleanUp();
    process.off("exit", cleanUp);
  }
}

/**
 * After the load: every lease has been released or has expired, so each soak pool must be whole and
 * free, agree with its watcher's replay (same sequence, no holder left), and every token it ever
 * named must read FREE; every other pool (legacy `default`, the fuzzer's) must at least add up.
 */
async function checkFinal(c: TokenClient, trackers: ReadonlyMap<string, PoolTracker>): Promise<SoakReport["finalCheck"]> {
  const problems: string[] = [];
  let tokensChecked = 0;
  const longestTtl = Math.max(...Object.values(POOLS).map((p) => p.leaseTtlMs), LEGACY_LEASE_S * 1000);
  // Abandoned leases run out within their TTL; the expiry driver may be a little late under load.
  await sleep(longestTtl + 1_000);
  for (const spec of Object.values(POOLS)) {
    const tracker = trackers.get(spec.name);
    let pool;
    for (let i = 0; i < 50; i++) {
      pool = (await c.getPool({ name: spec.name })).pool;
      if (pool && pool.held === 0 && tracker?.lastSequence === pool.sequence) break;
      await sleep(100);
    }
    if (!pool) {
      problems.push(`${spec.name}: missing`);
      continue;
    }
    if (pool.total !== spec.tokens) problems.push(`${spec.name}: ${pool.total} tokens, created with ${spec.tokens}`);
    if (!countsAddUp(pool)) problems.push(`${spec.name}: total ${pool.total} != available ${pool.available} + held ${pool.held} + cordoned free (at most ${pool.cordoned})`);
    if (pool.held !== 0) problems.push(`${spec.name}: ${pool.held} tokens still held after every lease ended`);
    if (pool.waiters !== 0) problems.push(`${spec.name}: ${pool.waiters} waiters left`);
    if (!tracker) continue;
    if (tracker.lastSequence !== pool.sequence) problems.push(`${spec.name}: watcher at sequence ${tracker.lastSequence}, pool at ${pool.sequence}`);
    if (tracker.holders.size !== 0) problems.push(`${spec.name}: the event replay still has holders: ${[...tracker.holders.keys()].slice(0, 5).join(", ")}`);
    for (const token of tracker.tokens) {
      tokensChecked++;
      try {
        const { state } = await c.getToken({ pool: spec.name, token });
        if (state !== TokenState.FREE) problems.push(`${spec.name}/${token}: ${TokenState[state]}, expected FREE`);
      } catch (e) {
        problems.push(`${spec.name}/${token}: GetToken ${outcomeOf(e)}`);
      }
    }
  }
  let poolsChecked = 0;
  let tokensInAllPools = 0;
  let pageToken = "";
  do {
    const page = await c.listPools({ pageSize: 1000, pageToken });
    for (const p of page.pools) {
      poolsChecked++;
      tokensInAllPools += p.total;
      if (!countsAddUp(p)) problems.push(`${p.name}: total ${p.total} != available ${p.available} + held ${p.held} + cordoned free (at most ${p.cordoned})`);
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return { poolsChecked, tokensChecked, tokensInAllPools, problems };
}

/** The server's pino lines at warn (40) or above: counted by message, the first few kept. */
function warnings(log: string): SoakReport["serverLog"] {
  const warnOrWorse: Record<string, number> = {};
  const first: string[] = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      if ((entry.level ?? 0) < 40) continue;
      const key = entry.msg ?? "(no message)";
      warnOrWorse[key] = (warnOrWorse[key] ?? 0) + 1;
      if (first.length < 5) first.push(line.slice(0, 500));
    } catch {
      // not a log line
    }
  }
  return { warnOrWorse, first };
}

function judge(r: Omit<SoakReport, "verdict">, sampleFailures: readonly string[]): SoakReport["verdict"] {
  const failures: string[] = [];
  const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
  if (r.serverExit !== 0) failures.push(`server exit code ${r.serverExit} (expected a clean 0 on SIGTERM); stderr: ${r.serverStderrTail.trim() || "(empty)"}`);
  if (r.unexpected.count > 0) failures.push(`${r.unexpected.count} unexpected call outcomes, e.g. ${r.unexpected.first.slice(0, 3).join("; ")}`);
  if (r.watch.violations > 0) failures.push(`${r.watch.violations} event-stream invariant violations, e.g. ${r.watch.firstViolations.slice(0, 3).join("; ")}`);
  if (r.badInput.violations > 0) failures.push(`${r.badInput.violations} bad inputs answered wrongly, e.g. ${r.badInput.firstViolations.slice(0, 2).join("; ")}`);
  if (r.badInput.harnessErrors > 0) failures.push(`the fuzz harness failed ${r.badInput.harnessErrors} times: ${r.badInput.firstViolations.slice(-1).join("")}`);
  if (r.finalCheck.problems.length > 0) failures.push(`final check: ${r.finalCheck.problems.slice(0, 5).join("; ")}`);
  if (sampleFailures.length > 0) failures.push(`/metrics scrapes failed: ${sampleFailures.slice(0, 3).join("; ")}`);
  // The load really ran: leases were assigned, expired and watched, bad input was sent.
  if ((r.calls.assign?.ok ?? 0) === 0) failures.push("no successful AssignToken");
  if ((r.watch.byType.LEASE_EXPIRED ?? 0) === 0) failures.push("no lease expired");
  if (r.badInput.sent === 0 && r.badInput.source !== "off") failures.push("no bad input sent");
  const half = r.durationS / 2 / 60;
  const judgedTrends = r.durationS >= TREND_MIN_RUN_S ? ([["heap", r.memory.heapTrend, HEAP_ALLOWANCE], ["RSS", r.memory.rssTrend, RSS_ALLOWANCE]] as const) : [];
  for (const [name, trend, allow] of judgedTrends) {
    const limit = Math.max(allow.bytes, allow.perMinute * half);
    // No trend (too few major GCs to tell) is reported, not failed: the ceiling still holds.
    if (trend && trend.growthBytes > limit) failures.push(`${name} after major GCs grew ${mib(trend.growthBytes)} over the second half (${mib(trend.slopePerMinute)}/min), limit ${mib(limit)}`);
  }
  if (r.memory.rssPeak > RSS_CEILING) failures.push(`RSS peaked at ${mib(r.memory.rssPeak)}, ceiling ${mib(RSS_CEILING)}`);
  if (!(r.lagP99.medianS < LAG_P99_MEDIAN_LIMIT_S)) failures.push(`event-loop lag p99: median ${(r.lagP99.medianS * 1000).toFixed(0)} ms per interval, limit ${LAG_P99_MEDIAN_LIMIT_S * 1000} ms`);
  return { pass: failures.length === 0, failures };
}

/** total = available + held + cordoned free tokens; GetPool reports cordoned ones, free or held, so the free share is bounded by it. */
function countsAddUp(p: { total: number; available: number; held: number; cordoned: number }): boolean {
  const cordonedFree = p.total - p.available - p.held;
  return cordonedFree >= 0 && cordonedFree <= p.cordoned;
}
