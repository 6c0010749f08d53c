// Redis connections for the store: fail fast instead of queueing while Redis is away (callers get
// UNAVAILABLE at once), never resend a command whose outcome is unknown, reconnect in the background.

import { Cluster, Redis, type RedisOptions } from "ioredis";
import { redactUrl } from "../../config/redact-url.js";

export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  /** redis://[user:pass@]host:port[/db], rediss://…, or redis+cluster://host:port,host:port,… */
  readonly url: string;
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

function build(o: ConnectionOptions, extra: RedisOptions): RedisClient {
  const options: RedisOptions = { ...SAFE, connectTimeout: o.connectTimeoutMs, ...extra };
  if (!isClusterUrl(o.url)) return new Redis(o.url, { ...options, retryStrategy: retry });
  const m = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/]+)/.exec(o.url);
  if (!m) throw new Error(`cannot parse cluster URL ${redactUrl(o.url)}`);
  const [user, pass] = (m[2] ?? "").split(":");
  const seeds = (m[3] ?? "").split(",").map((hp) => {
    const [host, port] = hp.split(":");
    return { host: host || "127.0.0.1", port: Number(port || 6379) };
  });
  const { lazyConnect, enableOfflineQueue, enableAutoPipelining, ...nodeOptions } = options;
  return new Cluster(seeds, {
    lazyConnect,
    enableOfflineQueue,
    enableAutoPipelining,
    clusterRetryStrategy: retry,
    redisOptions: {
      ...nodeOptions,
      ...(user && { username: decodeURIComponent(user) }),
      ...(pass && { password: decodeURIComponent(pass) }),
      ...(m[1] === "rediss" && { tls: {} }),
    },
  });
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
  const text = e instanceof Error ? e.message : String(e);
  if (/enableOfflineQueue|Connection is closed|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(text)) {
    return `store unavailable: Redis at ${where} is not reachable; the call was not applied`;
  }
  if (/max retries|timed out|ECONNRESET|EPIPE/i.test(text)) {
    return `store unavailable: lost Redis at ${where} during the call (${text.split(".")[0]}); it may or may not have been applied`;
  }
  if (/^LOADING/.test(text)) return `store unavailable: Redis at ${where} is loading its data set; retry shortly`;
  return `store unavailable: Redis at ${where} failed the call: ${text}`;
}
