// How the Redis store reaches Redis: one server, a Redis Cluster (seeded by any node), or a primary
// found through Sentinel; and how many replicas must confirm each change before it is acknowledged.

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type RedisTopology =
  | { readonly kind: "single" }
  /** Seeds: --redis-url's host (or every host of a redis+cluster:// URL); the rest is discovered. */
  | { readonly kind: "cluster" }
  | { readonly kind: "sentinel"; readonly sentinels: readonly HostPort[]; readonly masterName: string };

export interface ReplicaAck {
  /** WAIT for this many replicas after each mutating call; 0 = do not wait (asynchronous replication). */
  readonly minReplicas: number;
  /** Longest WAIT; fewer acknowledgements by then answer UNAVAILABLE. */
  readonly timeoutMs: number;
}

/** Parses "host:port,host:port"; undefined when an entry is not host:port with a port 1–65535. */
export function parseHostPorts(list: string): HostPort[] | undefined {
  const out: HostPort[] = [];
  for (const entry of list.split(",")) {
    const m = /^\s*(\[[^\]]+\]|[^:\s]+):(\d{1,5})\s*$/.exec(entry);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) return undefined;
    out.push({ host: m[1]!.replace(/^\[|\]$/g, ""), port });
  }
  return out;
}

/** Where Redis is, as messages name it ("Redis at …"); the caller passes the URL already redacted. */
export function redisLocation(topology: RedisTopology, redactedUrl: string): string {
  switch (topology.kind) {
    case "single":
      return redactedUrl;
    case "cluster":
      return `${redactedUrl} (cluster)`;
    case "sentinel":
      return `primary "${topology.masterName}" via sentinels ${topology.sentinels.map((s) => `${s.host}:${s.port}`).join(",")}`;
  }
}
