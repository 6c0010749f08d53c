// Redis connections for the store: fail fast instead of queueing while Redis is away (callers get
// UNAVAILABLE at once), never resend a command whose outcome is unknown, reconnect in the background.

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { redactUrl } from "../../config/redact-url.js";
import type { HostPort, RedisTopology } from "../../config/redis-topology.js";
import { ReplicaAckError } from "./replica-ack.js";

export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  /** redis://[user:pass@]host:port[/db], rediss://…, or redis+cluster://host:port,host:port,… */
  readonly url: string;
  /** One server (default), a Cluster seeded by `url`, or the primary Sentinel names. */
  readonly topology?: RedisTopology;
  /** Longest a command may take before the call fails with UNAVAILABLE. */
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

// Scripts are not idempotent: a command in flight when the connection drops must fail, not be
// replayed on reconnect (it may already have run).
const SAFE: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  enableAutoPipelining: true,
  keepAlive: 10_000,
};

const retry = (times: number): number => Math.min(50 * 2 ** Math.min(times, 5), 1000);

export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//.test(url);
}

/** A command client: bounded command time. */
export function createClient(o: ConnectionOptions): RedisClient {
  return build(o, { commandTimeout: o.commandTimeoutMs });
}

/**
 * A client for one blocking reader loop (XREAD BLOCK): no command timeout, which would cut the
 * block short; the loop bounds each block itself and a client-side guard catches a silent server.
 */
export function createBlockingClient(o: ConnectionOptions): RedisClient {
  return build(o, { blockingTimeout: o.commandTimeoutMs, enableAutoPipelining: false });
}

/** A client for pub/sub notices: a subscribed connection serves nothing else. */
export function createSubscriberClient(o: ConnectionOptions): RedisClient {
  return build(o, { commandTimeout: o.commandTimeoutMs, enableAutoPipelining: false });
}

/** Where to connect and as whom, from a redis://, rediss:// or redis+cluster:// URL. */
interface Endpoint {
  readonly hosts: HostPort[];
  readonly username?: string;
  readonly password?: string;
  readonly db?: number;
  readonly tls: boolean;
}

function parseEndpoint(url: string): Endpoint {
  const m = /^(rediss?)(?:\+cluster)?:\/\/(?:([^@/]*)@)?([^/?#]*)(?:\/(\d+))?/.exec(url);
  if (!m) throw new Error(`cannot parse Redis URL ${redactUrl(url)}`);
  const [user, ...rest] = (m[2] ?? "").split(":");
  const pass = rest.join(":");
  const hosts = (m[3] || "127.0.0.1:6379").split(",").map((hp) => {
    const i = hp.lastIndexOf(":");
    const host = i < 0 ? hp : hp.slice(0, i);
    return { host: host.replace(/^\[|\]$/g, "") || "127.0.0.1", port: Number(i < 0 ? 6379 : hp.slice(i + 1) || 6379) };
  });
  return {
    hosts,
    ...(user && { username: decodeURIComponent(user) }),
    ...(pass && { password: decodeURIComponent(pass) }),
    ...(m[4] !== undefined && { db: Number(m[4]) }),
    tls: m[1] === "rediss",
  };
}

function build(o: ConnectionOptions, extra: RedisOptions): RedisClient {
  const options: RedisOptions = { ...SAFE, connectTimeout: o.connectTimeoutMs, ...extra };
  const topology: RedisTopology = o.topology ?? { kind: isClusterUrl(o.url) ? "cluster" : "single" };
  switch (topology.kind) {
    case "single":
      if (isClusterUrl(o.url)) throw new Error(`${redactUrl(o.url)} names a cluster; the topology says one server`);
      return new Redis(o.url, { ...options, retryStrategy: retry });
    case "cluster":
      return buildCluster(parseEndpoint(o.url), options);
    case "sentinel": {
      const at = parseEndpoint(o.url);
      return new Redis({
        ...options,
        sentinels: topology.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: topology.masterName,
        role: "master",
        retryStrategy: retry,
        sentinelRetryStrategy: retry,
        // Sentinel announces a new primary on its own channel: switch at once rather than at the next error.
        failoverDetector: true,
        // A demoted primary answers writes with READONLY (the command did not run): reconnect, which asks
        // Sentinel for the current primary, and do not resend (1 = reconnect only).
        reconnectOnError: (e: Error) => (e.message.startsWith("READONLY") ? 1 : false),
        ...(at.username !== undefined && { username: at.username }),
        ...(at.password !== undefined && { password: at.password }),
        ...(at.db !== undefined && { db: at.db }),
        ...(at.tls && { tls: {} }),
      });
    }
  }
}

function buildCluster(at: Endpoint, options: RedisOptions): Cluster {
  const { lazyConnect, enableOfflineQueue, enableAutoPipelining, ...nodeOptions } = options;
  const clusterOptions: ClusterOptions = {
    lazyConnect,
    enableOfflineQueue,
    enableAutoPipelining,
    clusterRetryStrategy: retry,
    // MOVED, ASK and TRYAGAIN mean the command did not run: following them is safe. A slot being
    // migrated answers TRYAGAIN until its keys have moved, so give that a few hundred ms.
    maxRedirections: 16,
    retryDelayOnTryAgain: 50,
    retryDelayOnClusterDown: 100,
    // ioredis would resend a command whose connection closed, which may already have run: never.
    retryDelayOnFailover: 0,
    slotsRefreshTimeout: options.connectTimeout ?? 2000,
    redisOptions: {
      ...nodeOptions,
      ...(at.username !== undefined && { username: at.username }),
      ...(at.password !== undefined && { password: at.password }),
      ...(at.tls && { tls: {} }),
    },
  };
  return new Cluster(at.hosts, clusterOptions);
}

/** Connects, retrying until `timeoutMs`; rejects with the last error when Redis never answered. */
export async function connectWithin(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return;
  const ready = new Promise<void>((resolve) => client.once("ready", () => resolve()));
  let lastError: unknown;
  const onError = (e: unknown): void => void (lastError = e);
  client.on("error", onError);
  client.connect().catch((e: unknown) => (lastError = e));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(lastError instanceof Error ? lastError : new Error("no answer")), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    client.off("error", onError);
  }
}

/**
 * Turns a client error into the text of an UNAVAILABLE answer: whether the command surely did not run
 * (never sent) or may have run (connection lost or timed out while in flight) matters to the caller.
 */
export function unavailableMessage(e: unknown, where: string): string {
  if (e instanceof ReplicaAckError) return e.message; // ran, not confirmed: it says so itself
  const text = e instanceof Error ? e.message : String(e);
  if (/enableOfflineQueue|Connection is closed|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(text)) {
    return `store unavailable: Redis at ${where} is not reachable; the call was not applied`;
  }
  if (/Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|^MOVED|^ASK/.test(text)) {
    // Every redirection is a refusal: the script ran nowhere.
    return `store unavailable: the Redis Cluster at ${where} kept redirecting the call (slot moving or cluster down); the call was not applied`;
  }
  if (/same slots allocation group/.test(text)) {
    // ioredis refuses, before sending anything, an auto-pipeline whose slots moved to different nodes.
    return `store unavailable: the Redis Cluster at ${where} moved a slot while the call was being sent; the call was not applied`;
  }
  if (/^READONLY/.test(text)) return `store unavailable: Redis at ${where} is a replica now (failover in progress); the call was not applied`;
  if (/refused there/.test(text)) {
    return `store unavailable: the call reached Redis at ${where} after its deadline (Redis stalled); it was not applied`;
  }
  if (/max retries|timed out|ECONNRESET|EPIPE/i.test(text)) {
    return `store unavailable: lost Redis at ${where} during the call (${text.split(".")[0]}); it may or may not have been applied`;
  }
  if (/^LOADING/.test(text)) return `store unavailable: Redis at ${where} is loading its data set; retry shortly`;
  return `store unavailable: Redis at ${where} failed the call: ${text}`;
}
