// Server configuration from flags and environment (flags win), described once in a table that
// also produces --help. Invalid values are reported as one clear line.

import { parseArgs } from "node:util";
import { defaultConnectionLimits, defaultLimits, type ConnectionLimits, type Limits } from "./limits.js";
import { parseHostPorts, type RedisTopology, type ReplicaAck } from "./redis-topology.js";

export type StoreChoice = "memory" | "lmdb" | "redis";
/** Who serves native gRPC: grpc-js (per connection, through its injector) or connect-node with the rest. */
export type GrpcEngineChoice = "grpc-js" | "connect";

export interface Config {
  readonly host: string;
  readonly port: number;
  /** undefined = generate one at start and print it once to stderr. */
  readonly apiPassword: string | undefined;
  /** undefined = /metrics is open; otherwise it wants Authorization: Bearer <token>. */
  readonly metricsToken: string | undefined;
  readonly store: StoreChoice;
  readonly grpcEngine: GrpcEngineChoice;
  readonly dataDir: string;
  readonly redisUrl: string;
  /** One server, a Cluster seeded by redisUrl, or a primary found through Sentinel. */
  readonly redisTopology: RedisTopology;
  readonly redisReplicaAck: ReplicaAck;
  /** Longest any one Redis call may take (a command, or connecting) before the call fails UNAVAILABLE. */
  readonly redisTimeoutMs: number;
  readonly defaultPool: {
    readonly totalTokens: number;
    readonly leaseTtlMs: number;
    readonly idleTtlMs: number;
  };
  /** Lease length of tokens issued through the legacy /issue_token route. */
  readonly legacyLeaseTtlMs: number;
  readonly maxTokensPerPool: number;
  readonly restartGraceMs: number;
  readonly shutdownGraceMs: number;
  readonly eventRingSize: number;
  readonly watchBuffer: number;
  readonly logLevel: string;
  /** Origins whose browser pages may call the API (CORS); "*" = any; empty = CORS off. */
  readonly corsOrigins: readonly string[];
  readonly limits: Limits;
  readonly connections: ConnectionLimits;
}

export class ConfigError extends Error {}

interface Option {
  readonly flag: string;
  readonly env: readonly string[];
  readonly help: string;
  readonly default: string;
  /** A secret: --help never shows a value, only what happens when it is unset. */
  readonly secret?: boolean;
  /** What --help and the README show as the default, when not the literal value. */
  readonly shownDefault?: string;
  /** A switch: `--flag` alone sets it; the environment variable takes 1/0/true/false. */
  readonly boolean?: boolean;
}

const OPTIONS = {
  port: { flag: "port", env: ["PORT"], default: "8080", help: "TCP port for every protocol" },
  host: { flag: "host", env: ["HOST"], default: "0.0.0.0", help: "address to listen on" },
  apiPassword: {
    flag: "api-password",
    env: ["API_PASSWORD"],
    default: "",
    secret: true,
    shownDefault: "(random)",
    help: "shared secret clients send as X-API-PASSWORD or Authorization: Bearer (random if unset, printed once to stdout)",
  },
  metricsToken: {
    flag: "metrics-token",
    env: ["METRICS_TOKEN"],
    default: "",
    secret: true,
    shownDefault: "(unset)",
    help: "bearer token /metrics requires (open when unset)",
  },
  store: { flag: "store", env: ["STORE"], default: "lmdb", help: "state backend: lmdb (durable, in DATA_DIR) | memory | redis" },
  grpcEngine: {
    flag: "grpc-engine",
    env: ["GRPC_ENGINE"],
    default: "grpc-js",
    help: "who serves native gRPC: grpc-js (HTTP/2 connections whose first request is gRPC) | connect (connect-node, with everything else)",
  },
  dataDir: { flag: "data-dir", env: ["DATA_DIR"], default: "./data", help: "lmdb data directory" },
  redisUrl: { flag: "redis-url", env: ["REDIS_URL"], default: "redis://127.0.0.1:6379", help: "redis store address (with --redis-cluster: any seed node)" },
  redisCluster: {
    flag: "redis-cluster",
    env: ["REDIS_CLUSTER"],
    default: "0",
    shownDefault: "off",
    boolean: true,
    help: "treat --redis-url as a seed node of a Redis Cluster",
  },
  redisSentinels: {
    flag: "redis-sentinels",
    env: ["REDIS_SENTINELS"],
    default: "",
    shownDefault: "(unset)",
    help: "host:port,... of Redis Sentinels: the primary is looked up (and followed through failovers) by --redis-master-name",
  },
  redisMasterName: { flag: "redis-master-name", env: ["REDIS_MASTER_NAME"], default: "mymaster", help: "the primary's name in Sentinel" },
  redisMinReplicasAck: {
    flag: "redis-min-replicas-ack",
    env: ["REDIS_MIN_REPLICAS_ACK"],
    default: "0",
    help: "replicas that must confirm each change (WAIT) before it is acknowledged, 0 = off; fewer in time answer UNAVAILABLE",
  },
  redisAckTimeout: {
    flag: "redis-ack-timeout",
    env: ["REDIS_ACK_TIMEOUT"],
    default: "1",
    // At most 2 s: WAIT holds the connection, and the commands queued behind it are bounded by
    // --redis-timeout (3 s by default), which must be longer (checked in redisSettings).
    help: "seconds WAIT gives the replicas to confirm a change (with --redis-min-replicas-ack), at most 2 and less than --redis-timeout",
  },
  redisTimeout: {
    flag: "redis-timeout",
    env: ["REDIS_TIMEOUT"],
    default: "3",
    help: "seconds a call may spend on Redis (commands and connecting) before it fails with UNAVAILABLE",
  },
  totalTokens: { flag: "total-tokens", env: ["TOTAL_TOKENS"], default: "1", help: "tokens in the `default` pool created at start" },
  leaseTtl: {
    flag: "lease-ttl",
    env: ["LEASE_TTL", "TIMER_DURATION"],
    default: "60",
    help: "default pool lease TTL, seconds (TIMER_DURATION is accepted as an alias)",
  },
  idleTtl: { flag: "idle-ttl", env: ["IDLE_TTL"], default: "300", help: "default pool idle TTL, seconds (0 = never)" },
  legacyLeaseTtl: {
    flag: "legacy-lease-ttl",
    env: ["TIMER_DURATION"],
    default: "1800",
    help: "lease TTL of tokens issued by the legacy /issue_token route, seconds",
  },
  maxTokens: { flag: "max-tokens", env: ["MAX_TOKENS"], default: "1000000", help: "default max_tokens of a pool" },
  restartGrace: { flag: "restart-grace", env: ["RESTART_GRACE"], default: "15", help: "seconds a recovered lease survives after a restart" },
  shutdownGrace: { flag: "shutdown-grace", env: ["SHUTDOWN_GRACE"], default: "10", help: "seconds in-flight calls get on SIGTERM" },
  eventRing: { flag: "event-ring", env: ["EVENT_RING_SIZE"], default: "10000", help: "events retained per pool for WatchLeases resume" },
  // Twice the largest batch: one GenerateTokens or KeepAlive emits up to --max-batch events at once.
  watchBuffer: { flag: "watch-buffer", env: ["WATCH_BUFFER"], default: "20000", help: "events a slow watcher may lag before it is cut off (keep it above --max-batch)" },
  corsOrigin: {
    flag: "cors-origin",
    env: ["CORS_ORIGIN"],
    default: "",
    shownDefault: "(off)",
    help: "comma-separated origins (https://app.example.com) whose browser pages may call the API, or * for any",
  },
  logLevel: { flag: "log-level", env: ["LOG_LEVEL"], default: "info", help: "trace | debug | info | warn | error | silent" },
  maxRequestBytes: { flag: "max-request-bytes", env: ["MAX_REQUEST_BYTES"], default: String(defaultLimits.maxRequestBytes), help: "largest request body" },
  maxBatch: { flag: "max-batch", env: ["MAX_BATCH_TOKENS"], default: String(defaultLimits.maxBatchTokens), help: "most tokens per KeepAlive/GenerateTokens call" },
  maxGenerate: { flag: "max-generate", env: ["MAX_GENERATE"], default: String(defaultLimits.maxGenerateCount), help: "largest GenerateTokens count" },
  maxStreams: { flag: "max-streams", env: ["MAX_STREAMS"], default: String(defaultLimits.maxStreams), help: "concurrent WatchLeases streams" },
  maxWait: { flag: "max-wait", env: ["MAX_WAIT"], default: String(defaultLimits.maxWaitMs / 1000), help: "longest AssignToken wait_timeout honoured, seconds" },
  maxConnections: {
    flag: "max-connections",
    env: ["MAX_CONNECTIONS"],
    default: String(defaultConnectionLimits.maxConnections),
    help: "open connections; more are closed on accept",
  },
  maxConnectionStreams: {
    flag: "max-connection-streams",
    env: ["MAX_CONNECTION_STREAMS"],
    default: String(defaultConnectionLimits.maxConnectionStreams),
    help: "concurrent streams per HTTP/2 connection; more are refused",
  },
  maxHeaderBytes: {
    flag: "max-header-bytes",
    env: ["MAX_HEADER_BYTES"],
    default: String(defaultConnectionLimits.maxHeaderBytes),
    help: "largest request header block",
  },
  headersTimeout: {
    flag: "headers-timeout",
    env: ["HEADERS_TIMEOUT"],
    default: String(defaultConnectionLimits.headersTimeoutMs / 1000),
    help: "seconds a client has to send a request's headers",
  },
  requestTimeout: {
    flag: "request-timeout",
    env: ["REQUEST_TIMEOUT"],
    default: String(defaultConnectionLimits.requestTimeoutMs / 1000),
    help: "seconds an HTTP/1.1 request (headers and body) has to arrive, 0 = no limit",
  },
  idleTimeout: {
    flag: "idle-timeout",
    env: ["IDLE_TIMEOUT"],
    default: String(defaultConnectionLimits.idleTimeoutMs / 1000),
    help: "seconds before a connection without traffic is closed",
  },
  writeStallTimeout: {
    flag: "write-stall-timeout",
    env: ["WRITE_STALL_TIMEOUT"],
    default: String(defaultConnectionLimits.writeStallTimeoutMs / 1000),
    help: "seconds a response may wait on a client that stopped reading before it is cut, 0 = never",
  },
} as const satisfies Record<string, Option>;

type Key = keyof typeof OPTIONS;

/** Every option as --help lists it, for docs that must stay in step (the README's table is tested against it). */
export function optionList(): readonly { flag: string; env: readonly string[]; shownDefault: string; help: string }[] {
  return Object.values(OPTIONS).map((o: Option) => ({ flag: o.flag, env: o.env, shownDefault: o.shownDefault ?? o.default, help: o.help }));
}

export function helpText(): string {
  const rows = Object.values(OPTIONS).map((o: Option) => {
    const env = o.env.join(", ");
    const def = o.shownDefault ?? o.default;
    return `  --${o.flag.padEnd(22)} ${env.padEnd(28)} ${def.padEnd(24)} ${o.help}`;
  });
  return [
    "tokenpool: token pools with expiring leases over gRPC, gRPC-Web and Connect",
    "",
    "usage: tokenpool [--flag value]...   (each flag also reads the environment variable shown)",
    "",
    `  ${"flag".padEnd(24)} ${"environment".padEnd(28)} ${"default".padEnd(24)} meaning`,
    ...rows,
    `  --${"help".padEnd(22)} ${"".padEnd(28)} ${"".padEnd(24)} print this text`,
  ].join("\n");
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config | "help" {
  const parsed = parseFlags(argv);
  if (parsed === "help") return "help";
  const raw = (key: Key): { value: string; source: string } => {
    const o: Option = OPTIONS[key];
    const flagged = parsed[o.flag];
    if (flagged !== undefined) return { value: flagged, source: `--${o.flag}` };
    for (const name of o.env) {
      const v = env[name];
      if (v !== undefined && v !== "") return { value: v, source: name };
    }
    return { value: o.default, source: `--${o.flag}` };
  };
  const int = (key: Key, min: number, max: number): number => {
    const { value, source } = raw(key);
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${source}=${JSON.stringify(value)}: expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
  const seconds = (key: Key, min: number, max: number): number => {
    const { value, source } = raw(key);
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new ConfigError(`${source}=${JSON.stringify(value)}: expected seconds from ${min} to ${max}`);
    }
    return Math.round(n * 1000);
  };
  const bool = (key: Key): boolean => {
    const { value, source } = raw(key);
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off|)$/i.test(value)) return false;
    throw new ConfigError(`${source}=${JSON.stringify(value)}: expected 1 or 0 (true or false)`);
  };
  const store = raw("store");
  if (!["memory", "lmdb", "redis"].includes(store.value)) {
    throw new ConfigError(`${store.source}=${JSON.stringify(store.value)}: expected memory, lmdb or redis`);
  }
  const grpcEngine = raw("grpcEngine");
  if (!["grpc-js", "connect"].includes(grpcEngine.value)) {
    throw new ConfigError(`${grpcEngine.source}=${JSON.stringify(grpcEngine.value)}: expected grpc-js or connect`);
  }
  const logLevel = raw("logLevel");
  if (!["trace", "debug", "info", "warn", "error", "fatal", "silent"].includes(logLevel.value)) {
    throw new ConfigError(`${logLevel.source}=${JSON.stringify(logLevel.value)}: expected trace, debug, info, warn, error or silent`);
  }
  const password = raw("apiPassword").value;
  const corsOrigins = origins(raw("corsOrigin"));
  const maxTokens = int("maxTokens", 1, 50_000_000);
  const limits: Limits = {
    ...defaultLimits,
    maxRequestBytes: int("maxRequestBytes", 1024, 64 * 1024 * 1024),
    maxBatchTokens: int("maxBatch", 1, 1_000_000),
    maxGenerateCount: int("maxGenerate", 1, 10_000_000),
    maxStreams: int("maxStreams", 0, 1_000_000),
    maxWaitMs: seconds("maxWait", 0, 24 * 3600),
  };
  const connections: ConnectionLimits = {
    maxConnections: int("maxConnections", 1, 1_000_000),
    maxConnectionStreams: int("maxConnectionStreams", 1, 1_000_000),
    maxHeaderBytes: int("maxHeaderBytes", 1024, 1024 * 1024),
    headersTimeoutMs: seconds("headersTimeout", 0.1, 3600),
    requestTimeoutMs: seconds("requestTimeout", 0, 24 * 3600),
    idleTimeoutMs: seconds("idleTimeout", 0.1, 24 * 3600),
    writeStallTimeoutMs: seconds("writeStallTimeout", 0, 24 * 3600),
  };
  if (connections.requestTimeoutMs > 0 && connections.requestTimeoutMs < connections.headersTimeoutMs) {
    // Node refuses the combination; say so in our terms rather than crash at listen.
    const { value, source } = raw("requestTimeout");
    throw new ConfigError(`${source}=${JSON.stringify(value)}: must be 0 or at least the headers timeout (${connections.headersTimeoutMs / 1000} s)`);
  }
  return {
    ...redisSettings(raw, bool, int, seconds),
    host: raw("host").value,
    port: int("port", 0, 65535),
    apiPassword: password === "" ? undefined : password,
    metricsToken: raw("metricsToken").value || undefined,
    store: store.value as StoreChoice,
    grpcEngine: grpcEngine.value as GrpcEngineChoice,
    dataDir: raw("dataDir").value,
    redisUrl: raw("redisUrl").value,
    defaultPool: {
      totalTokens: int("totalTokens", 0, maxTokens),
      leaseTtlMs: seconds("leaseTtl", 0.001, limits.maxLeaseTtlMs / 1000),
      idleTtlMs: seconds("idleTtl", 0, limits.maxIdleTtlMs / 1000),
    },
    legacyLeaseTtlMs: seconds("legacyLeaseTtl", 0.001, limits.maxLeaseTtlMs / 1000),
    maxTokensPerPool: maxTokens,
    restartGraceMs: seconds("restartGrace", 0, 24 * 3600),
    shutdownGraceMs: seconds("shutdownGrace", 0, 3600),
    eventRingSize: int("eventRing", 1, 10_000_000),
    watchBuffer: int("watchBuffer", 1, 10_000_000),
    logLevel: logLevel.value,
    corsOrigins,
    limits,
    connections,
  };
}

/**
 * The Redis flags, checked together: a Cluster and Sentinel exclude each other, and WAIT runs inside
 * each call's Redis time, so it must end before that does.
 */
function redisSettings(
  raw: (key: Key) => { value: string; source: string },
  bool: (key: Key) => boolean,
  int: (key: Key, min: number, max: number) => number,
  seconds: (key: Key, min: number, max: number) => number,
): { redisTopology: RedisTopology; redisReplicaAck: ReplicaAck; redisTimeoutMs: number } {
  const url = raw("redisUrl").value;
  const cluster = bool("redisCluster") || /^rediss?\+cluster:\/\//.test(url);
  const sentinels = raw("redisSentinels");
  let redisTopology: RedisTopology = { kind: cluster ? "cluster" : "single" };
  if (sentinels.value !== "") {
    const list = parseHostPorts(sentinels.value);
    if (!list) throw new ConfigError(`${sentinels.source}=${JSON.stringify(sentinels.value)}: expected host:port,host:port,...`);
    if (cluster) throw new ConfigError(`${sentinels.source}: Sentinel and --redis-cluster exclude each other (a Cluster fails over by itself)`);
    const masterName = raw("redisMasterName");
    if (masterName.value.trim() === "") throw new ConfigError(`${masterName.source}: the primary's name must not be empty`);
    redisTopology = { kind: "sentinel", sentinels: list, masterName: masterName.value };
  }
  const redisTimeoutMs = seconds("redisTimeout", 0.05, 600);
  const redisReplicaAck = { minReplicas: int("redisMinReplicasAck", 0, 100), timeoutMs: seconds("redisAckTimeout", 0.001, 2) };
  if (redisReplicaAck.minReplicas > 0 && redisReplicaAck.timeoutMs >= redisTimeoutMs) {
    const ack = raw("redisAckTimeout").source;
    const timeout = raw("redisTimeout").source;
    throw new ConfigError(
      `${ack} (${redisReplicaAck.timeoutMs / 1000} s) must be shorter than ${timeout} (${redisTimeoutMs / 1000} s): ` +
        "WAIT runs inside each call's time on Redis, so every acknowledged call would answer UNAVAILABLE",
    );
  }
  return { redisTopology, redisReplicaAck, redisTimeoutMs };
}

/** Each entry an origin exactly as a browser sends it (scheme://host[:port], no path), or "*". */
function origins({ value, source }: { value: string; source: string }): string[] {
  const list = value.split(",").map((o) => o.trim()).filter((o) => o !== "");
  for (const o of list) {
    if (o === "*") continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(o);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== o) {
      throw new ConfigError(`${source}=${JSON.stringify(value)}: ${JSON.stringify(o)} is not an origin like https://app.example.com or http://127.0.0.1:3000 (no path, no trailing slash), nor *`);
    }
  }
  return list;
}

function parseFlags(argv: readonly string[]): Record<string, string> | "help" {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const o of Object.values(OPTIONS) as Option[]) options[o.flag] = { type: o.boolean ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { ...options, help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (e) {
    throw new ConfigError(e instanceof Error ? e.message.split("\n")[0] ?? String(e) : String(e));
  }
  if (values.help) return "help";
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === "string") out[k] = v;
    else if (k !== "help" && typeof v === "boolean") out[k] = v ? "1" : "0";
  }
  return out;
}
