// The Redis topology flags: Cluster (switch or redis+cluster:// URL), Sentinel (host:port list and
// primary name), replica acknowledgements; combinations that cannot work stop the server with one line.

import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type Config } from "../../src/config/config.js";
import { redisLocation } from "../../src/config/redis-topology.js";

const config = (argv: string[], env: NodeJS.ProcessEnv = {}): Config => {
  const c = loadConfig(argv, env);
  if (c === "help") throw new Error("help");
  return c;
};

describe("Redis topology configuration", () => {
  it("defaults to one server and no replica acknowledgements", () => {
    const c = config([]);
    expect(c.redisTopology).toEqual({ kind: "single" });
    expect(c.redisReplicaAck).toEqual({ minReplicas: 0, timeoutMs: 1000 });
  });

  it("refuses a replica-ack timeout that the Redis call timeout would cut off", () => {
    expect(() => config(["--redis-min-replicas-ack", "1", "--redis-timeout", "1", "--redis-ack-timeout", "1"])).toThrow(
      /--redis-ack-timeout \(1 s\) must be shorter than --redis-timeout \(1 s\)/,
    );
    expect(() => config(["--redis-min-replicas-ack", "1"], { REDIS_TIMEOUT: "0.5" })).toThrow(/must be shorter than REDIS_TIMEOUT \(0.5 s\)/);
    // Without acknowledgements the ack timeout is unused, and a shorter one passes.
    expect(config(["--redis-timeout", "0.5"]).redisTimeoutMs).toBe(500);
    expect(config(["--redis-min-replicas-ack", "1", "--redis-timeout", "3", "--redis-ack-timeout", "2"]).redisReplicaAck).toEqual({ minReplicas: 1, timeoutMs: 2000 });
  });

  it("turns on Cluster by switch, environment or a redis+cluster:// URL", () => {
    expect(config(["--redis-cluster"]).redisTopology).toEqual({ kind: "cluster" });
    expect(config([], { REDIS_CLUSTER: "1" }).redisTopology).toEqual({ kind: "cluster" });
    expect(config([], { REDIS_CLUSTER: "false" }).redisTopology).toEqual({ kind: "single" });
    expect(config(["--redis-url", "redis+cluster://h1:7000,h2:7001"]).redisTopology).toEqual({ kind: "cluster" });
    expect(() => config([], { REDIS_CLUSTER: "maybe" })).toThrow(/REDIS_CLUSTER="maybe": expected 1 or 0/);
  });

  it("reads Sentinels and the primary's name, and refuses Sentinel with Cluster", () => {
    const c = config(["--redis-sentinels", "10.0.0.1:26379, s2:26380,[::1]:26381", "--redis-master-name", "tp"]);
    expect(c.redisTopology).toEqual({
      kind: "sentinel",
      masterName: "tp",
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "s2", port: 26380 },
        { host: "::1", port: 26381 },
      ],
    });
    expect(redisLocation(c.redisTopology, "redis://x")).toBe('primary "tp" via sentinels 10.0.0.1:26379,s2:26380,::1:26381');
    expect(config([], { REDIS_SENTINELS: "s:1" }).redisTopology).toMatchObject({ masterName: "mymaster" });
    expect(() => config(["--redis-sentinels", "s1"])).toThrow(ConfigError);
    expect(() => config(["--redis-sentinels", "s1:0"])).toThrow(/expected host:port/);
    expect(() => config(["--redis-sentinels", "s1:1", "--redis-cluster"])).toThrow(/exclude each other/);
    expect(() => config(["--redis-sentinels", "s1:1", "--redis-master-name", " "])).toThrow(/must not be empty/);
  });

  it("reads the replica acknowledgement count and timeout", () => {
    expect(config(["--redis-min-replicas-ack", "2", "--redis-ack-timeout", "0.25"]).redisReplicaAck).toEqual({ minReplicas: 2, timeoutMs: 250 });
    expect(() => config(["--redis-min-replicas-ack=-1"])).toThrow(/whole number from 0 to 100/);
    expect(() => config(["--redis-ack-timeout", "0"])).toThrow(/seconds from 0.001 to 2/);
    expect(() => config(["--redis-ack-timeout", "3"])).toThrow(/seconds from 0.001 to 2/);
  });
});
