// `npm run bench:load`: builds, starts each server on 127.0.0.1, drives it, stops it, and prints the
// tables and, last, one JSON line with every figure (docs/BENCHMARKS.md says what each row measures).

import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { bareHttp2, legacyAgainstFlask } from "./baselines.js";
import { writeBodies } from "./bodies.js";
import { build, buildTree } from "./build.js";
import { fanout, type FanoutResult } from "./fanout.js";
import { describeMemory, expiryLateness, type LatenessResult } from "./lateness.js";
import { Measurer, type Protocol, type Row } from "./measure.js";
import { cleanupNow, installCleanup, tempDir } from "../../test/harness/processes.js";
import { log } from "./progress.js";
import { renderReport, Results } from "./report.js";
import { startBaseline, startRedis, startTokenpool, type Running } from "./servers.js";
import { PoolSetup } from "./setup.js";
import { ensureSystemTools } from "./system-tools.js";
import { throughputRounds, type Contender } from "./throughput.js";

/**
 * --seconds 4 --warmup 1 --rounds 2 --connections 8 --streams 16 --no-redis --no-lateness --skip-build;
 * --lateness-only runs the expiry-lateness scenario alone (--lateness-store memory|lmdb for its server);
 * --engines-only runs the gRPC engine comparison alone (grpc-js floor, tokenpool on grpc-js and on connect-node);
 * --connect-only runs the Connect rows alone (Connect binary and JSON: the Connect floor and tokenpool memory);
 * --fanout-only runs the 100-subscriber fan-out alone (--grpc-engine grpc-js|connect for its server);
 * --baseline-tree DIR adds another checkout's tokenpool (memory, default engine; e.g. a worktree of main
 * before a change) to the engine comparison (with --connect-only: to the Connect rows), so a
 * before/after is measured in the same rounds.
 */
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "4" },
    warmup: { type: "string", default: "1" },
    rounds: { type: "string", default: "2" },
    connections: { type: "string", default: "8" },
    streams: { type: "string", default: "16" },
    "no-redis": { type: "boolean", default: false },
    "no-lateness": { type: "boolean", default: false },
    "skip-build": { type: "boolean", default: false },
    "lateness-only": { type: "boolean", default: false },
    "lateness-store": { type: "string", default: "memory" },
    "engines-only": { type: "boolean", default: false },
    "connect-only": { type: "boolean", default: false },
    "fanout-only": { type: "boolean", default: false },
    "grpc-engine": { type: "string", default: "grpc-js" },
    "baseline-tree": { type: "string" },
  },
});

const PASSWORD = "bench-load-password";
/** Free tokens the assign pool must have before an AssignToken run (warm-up + run at up to ~15k/s). */
const FREE_NEEDED = 100_000;
const ASSIGN_POOL_SIZE = 200_000;
const SUBSCRIBERS = 100;

async function main(): Promise<void> {
  installCleanup();
  const started = Date.now();
  const loadBefore = loadavg();
  const settings = {
    password: PASSWORD,
    connections: Number(values.connections),
    streams: Number(values.streams),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
  };
  const rounds = Number(values.rounds);
  log(`load bench: ${settings.connections} connections × ${settings.streams} streams, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s per row, ${rounds} rounds`);
  ensureSystemTools(log);
  if (!values["skip-build"]) {
    log("building (npm run build, bench servers)");
    build();
    if (values["baseline-tree"] !== undefined) buildTree(values["baseline-tree"]);
  }
  const tmp = tempDir("tokenpool-load-");
  if (values["lateness-only"]) return latenessOnly(settings, tmp, loadBefore);
  const m = new Measurer(settings, writeBodies(tmp));
  if (values["fanout-only"]) return fanoutOnly(m, loadBefore);
  const rows: Row[] = [];
  const servers: Running[] = [];
  let fan: FanoutResult | undefined;
  let late: LatenessResult | undefined;
  try {
    const enginesOnly = values["engines-only"];
    const connectOnly = values["connect-only"];
    // Either narrow run measures its rows and nothing else (no lmdb, redis, legacy, fan-out, lateness).
    const everything = !enginesOnly && !connectOnly;
    const connectProtocols: readonly Protocol[] = ["connect-proto", "connect-json"];
    const contenders: Contender[] = [];
    if (!enginesOnly) {
      log("starting the Connect floor");
      const floor = await startBaseline("connect-floor");
      servers.push(floor);
      contenders.push({ server: floor, setup: undefined, rounds, protocols: connectOnly ? connectProtocols : ["grpc", ...connectProtocols] });
    }
    if (!connectOnly) {
      // The two gRPC engines side by side, with grpc-js's own floor (trivial handlers), in the same rounds.
      log("starting the grpc-js floor");
      const grpcjsFloor = await startBaseline("grpcjs-floor");
      servers.push(grpcjsFloor);
      contenders.push({ server: grpcjsFloor, setup: undefined, rounds, protocols: ["grpc"] });
    }
    log("starting tokenpool memory");
    const memory = await startTokenpool({ store: "memory", password: PASSWORD, totalTokens: 100_000 });
    servers.push(memory);
    const memorySetup = new PoolSetup(memory.url, PASSWORD, ASSIGN_POOL_SIZE);
    contenders.push({ server: memory, setup: memorySetup, rounds, protocols: enginesOnly ? ["grpc"] : connectOnly ? connectProtocols : ["grpc", ...connectProtocols] });
    if (!connectOnly) {
      log("starting tokenpool memory on the connect gRPC engine");
      const connectEngine = await startTokenpool({ store: "memory", password: PASSWORD, totalTokens: 1, grpcEngine: "connect" });
      servers.push(connectEngine);
      contenders.push({ server: connectEngine, setup: new PoolSetup(connectEngine.url, PASSWORD, ASSIGN_POOL_SIZE), rounds, protocols: ["grpc"] });
    }
    const tree = values["baseline-tree"];
    if (tree !== undefined) {
      log(`starting tokenpool memory from ${tree} (the baseline tree)`);
      // Started as the memory server above is, so the two differ only by their code.
      const baseline = await startTokenpool({ store: "memory", password: PASSWORD, totalTokens: 100_000, tree });
      servers.push(baseline);
      contenders.push({ server: baseline, setup: new PoolSetup(baseline.url, PASSWORD, ASSIGN_POOL_SIZE), rounds, protocols: connectOnly ? connectProtocols : ["grpc"] });
    }
    if (everything) {
      log("starting tokenpool lmdb" + (values["no-redis"] ? "" : " and redis"));
      const lmdb = await startTokenpool({ store: "lmdb", password: PASSWORD, totalTokens: 1 });
      servers.push(lmdb);
      contenders.push({ server: lmdb, setup: new PoolSetup(lmdb.url, PASSWORD, ASSIGN_POOL_SIZE), rounds, protocols: ["grpc"] });
    }
    if (everything && !values["no-redis"]) {
      const redis = await startRedis();
      servers.push(redis);
      const tpRedis = await startTokenpool({ store: "redis", password: PASSWORD, totalTokens: 1, redisUrl: redis.url });
      servers.push(tpRedis);
      contenders.push({ server: tpRedis, setup: new PoolSetup(tpRedis.url, PASSWORD, ASSIGN_POOL_SIZE / 2), rounds: 1, protocols: ["grpc"] });
    }
    log("preparing pools (200k-token assign pool, 100 held KeepAlive tokens) on each tokenpool");
    for (const c of contenders) await c.setup?.prepare();

    rows.push(...(await throughputRounds(m, contenders, rounds, FREE_NEEDED)));
    // Only the memory server is needed from here on: the others would just sit in memory.
    for (const s of servers.filter((s) => s !== memory)) await s.stop();
    if (everything) {
      rows.push(...(await legacyAgainstFlask(m, memory, PASSWORD)));
      rows.push(...(await bareHttp2(m)));
      fan = await fanout(m, memory, memorySetup, PASSWORD, SUBSCRIBERS, FREE_NEEDED);
    }
    await memory.stop();
    if (everything && !values["no-lateness"]) {
      late = await expiryLateness({
        password: PASSWORD,
        leases: 1_000_000,
        ratePerSec: 10_000,
        phaseSeconds: 12,
        connections: settings.connections,
        streams: settings.streams,
        tmp,
      });
    }
  } finally {
    for (const s of servers) await s.stop();
  }

  const results = new Results(rows);
  const cpu = cpus();
  const { text, json } = renderReport(results, fan, late, {
    machine: `${cpu.length} × ${cpu[0]?.model ?? "cpu"}`,
    node: `node ${process.version}`,
    baselineTree: values["baseline-tree"],
    command: `npm run bench:load${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    settings:
      `h2load -t1 -c${settings.connections} -m${settings.streams} (gRPC, Connect binary); wrk -t1 -c${settings.connections * settings.streams} (HTTP/1.1); ` +
      `pair driver ${settings.connections} HTTP/2 connections × ${settings.streams} loops (HTTP/1.1: ${settings.connections * settings.streams} sockets); ` +
      `${settings.warmupSeconds} s warm-up + ${settings.seconds} s per row`,
    loadBefore,
    loadAfter: loadavg(),
    elapsedSeconds: (Date.now() - started) / 1000,
  });
  process.stdout.write(`${text}\n`);
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

/** The lateness scenario alone, with the machine's load around it (the machine is shared). */
async function latenessOnly(settings: { password: string; connections: number; streams: number }, tmp: string, loadBefore: number[]): Promise<void> {
  const store = values["lateness-store"] === "lmdb" ? "lmdb" : "memory";
  const late = await expiryLateness({ ...settings, leases: 1_000_000, ratePerSec: 10_000, phaseSeconds: 12, tmp, store });
  const loadAfter = loadavg();
  const f = (x: number | undefined): string => (x === undefined ? "–" : x.toFixed(1));
  const lines = [
    `expiry lateness, ${late.leases} live leases due at ${late.ratePerSec}/s, ${store} store (server histogram, bucket-interpolated)`,
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}; load average before ${loadBefore.map((x) => x.toFixed(2)).join(" ")}, after ${loadAfter.map((x) => x.toFixed(2)).join(" ")}`,
    ...(late.memory ? [describeMemory(late.leases, late.memory)] : []),
    ...[late.moderate, late.withSubscriber, late.saturated].map((p) => `${p.name.padEnd(32)} p50 ${f(p.p50Ms).padStart(7)} ms  p99 ${f(p.p99Ms).padStart(7)} ms  (${p.expiries} expiries, ${Math.round(p.loadRps)} KeepAlive(100)/s)`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  process.stdout.write(
    `${JSON.stringify({ bench: "lateness", store, leases: late.leases, memory: late.memory, moderate: late.moderate, withSubscriber: late.withSubscriber, subscriber: late.subscriber, saturated: late.saturated, loadBefore, loadAfter })}\n`,
  );
}

async function fanoutOnly(m: Measurer, loadBefore: number[]): Promise<void> {
  const grpcEngine = values["grpc-engine"] === "connect" ? "connect" : "grpc-js";
  const memory = await startTokenpool({ store: "memory", password: PASSWORD, totalTokens: 1, grpcEngine });
  try {
    const setup = new PoolSetup(memory.url, PASSWORD, ASSIGN_POOL_SIZE);
    await setup.prepare();
    const fan = await fanout(m, memory, setup, PASSWORD, SUBSCRIBERS, FREE_NEEDED);
    const loadAfter = loadavg();
    process.stdout.write(`${JSON.stringify({ bench: "fanout", grpcEngine, ...fan, load: undefined, loadRps: fan.load.rps, loadBefore, loadAfter })}\n`);
  } finally {
    await memory.stop();
  }
}

main().then(
  () => {
    cleanupNow();
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    cleanupNow();
    process.exit(1);
  },
);
